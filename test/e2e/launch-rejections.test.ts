import { sql } from 'kysely';
import { readFileSync } from 'node:fs';
import type { LaunchParams, SignOptions } from '../emulator/index.js';
import { LmsEmulator } from '../emulator/index.js';
import { LEARNERS, RESOURCE_LINK, SAMPLE_COURSE, seedSampleCourse } from '../fixtures/sample-course.js';
import { createTestDatabase, DATABASE_KINDS, type TestDatabase } from '../helpers/databases.js';
import { LtiBrowser, parseAutoPostForm } from '../helpers/lti-client.js';
import { startTestTool, type TestTool } from '../helpers/tool.js';

const ja = JSON.parse(readFileSync('config/locales/ja.json', 'utf8')) as { errors: Record<string, { title: string }> };
const CLAIM = 'https://purl.imsglobal.org/spec/lti/claim/';
const now = () => Math.floor(Date.now() / 1000);
const title = (html: string) => /data-testid="error-title">([^<]*)</.exec(html)?.[1];

describe.each(DATABASE_KINDS)('rejected logins and launches on %s', (kind) => {
  let target: TestDatabase;
  let tool: TestTool;
  let emu: LmsEmulator;
  let clientId: string;
  let deploymentId: string;
  const learner = LEARNERS[4]!;
  let launch: LaunchParams;

  /** Rows a launch would leave behind: ltijs' sessions and nonces, our contexts and logins. */
  async function storedRows(): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (const table of ['idtokens', 'contexttokens', 'nonces', 'lti_context', 'oidc_login']) {
      const r = await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)}`.execute(tool.database.db);
      counts[table] = r.rows[0]!.n;
    }
    return counts;
  }

  /** A real login, then a token the test crafts for it. */
  async function launchWith(mutate: (claims: Record<string, unknown>) => void, sign: SignOptions = {}) {
    const browser = new LtiBrowser('ja');
    const before = await storedRows();
    const login = await browser.startLogin(emu, launch);
    const auth = login.authUrl!;
    const claims = emu.buildLaunchClaims({ ...launch, nonce: auth.searchParams.get('nonce')!, targetLinkUri: auth.searchParams.get('redirect_uri')! });
    mutate(claims);
    const page = await browser.postLaunch(`${tool.url}/lti/launch`, await emu.signIdToken(claims, sign), auth.searchParams.get('state')!);
    return { page, before, after: await storedRows() };
  }

  function expectLoggedRejection(reason: string) {
    expect(tool.logs.records()).toContainEqual(expect.objectContaining({ level: 40, reason, msg: 'LTI login or launch rejected' }));
  }

  beforeAll(async () => {
    target = await createTestDatabase(kind);
    tool = await startTestTool(target.env);
    emu = new LmsEmulator({ flavor: 'moodle' });
    await emu.start();
    const registered = emu.registerTool({
      name: 'Micro-credentials', initiateLoginUri: `${tool.url}/lti/login`, redirectUris: [`${tool.url}/lti/launch`],
      targetLinkUri: `${tool.url}/lti/launch`, jwksUri: `${tool.url}/lti/keys`, scopes: [],
    });
    emu.activateTool(registered.clientId);
    ({ clientId, deploymentId } = registered);
    await tool.app.platforms.register({
      issuer: emu.url, clientId, name: 'Moodle', authLoginUrl: emu.endpoints.authorization, tokenUrl: emu.endpoints.token,
      keysetUrl: emu.endpoints.jwks, deploymentIds: [deploymentId], source: 'cli', active: true,
    }, 'test');
    seedSampleCourse(emu, clientId);
    launch = { userId: learner.id, courseId: SAMPLE_COURSE.id, resourceLinkId: RESOURCE_LINK.id, clientId };
  });
  afterAll(async () => {
    await emu.stop();
    await tool.stop();
    await target.dispose();
  });

  test('the unaltered launch succeeds (so the cases below fail for their own reason)', async () => {
    const { page, before, after } = await launchWith(() => undefined);
    expect(page.status).toBe(200);
    expect(after.lti_context).toBe(before.lti_context! + 1);
  });

  test.each<[string, (c: Record<string, unknown>) => void, SignOptions, number, string]>([
    ['a bad signature', () => undefined, { key: 'foreign' }, 401, 'bad_signature'],
    ['an unsigned token', () => undefined, { alg: 'none' }, 401, 'bad_signature'],
    ['a wrong aud', (c) => { c.aud = 'some-other-tool'; c.azp = 'some-other-tool'; }, {}, 401, 'wrong_audience'],
    ['a wrong iss', (c) => { c.iss = 'https://evil.example'; }, {}, 401, 'wrong_issuer'],
    ['an expired token', (c) => { c.iat = now() - 900; c.exp = now() - 300; }, {}, 401, 'expired_token'],
    ['a token issued too long ago', (c) => { c.iat = now() - 600; c.exp = now() + 600; }, {}, 401, 'expired_token'],
    ['an iat in the future', (c) => { c.iat = now() + 600; c.exp = now() + 1200; }, {}, 401, 'future_token'],
    ['a different nonce', (c) => { c.nonce = 'not-the-one-sent'; }, {}, 401, 'nonce_mismatch'],
    ['an unknown deployment id', (c) => { c[`${CLAIM}deployment_id`] = 'deployment-nobody-registered'; }, {}, 403, 'unknown_deployment'],
    ['no roles claim', (c) => { delete c[`${CLAIM}roles`]; }, {}, 400, 'missing_claims'],
    ['no resource link', (c) => { delete c[`${CLAIM}resource_link`]; }, {}, 400, 'missing_claims'],
    ['a wrong LTI version', (c) => { c[`${CLAIM}version`] = '1.1'; }, {}, 400, 'missing_claims'],
    ['no sub', (c) => { delete c.sub; }, {}, 400, 'missing_claims'],
  ])('%s is refused with a clear page in Japanese, logged, nothing stored', async (_name, mutate, sign, status, reason) => {
    const { page, before, after } = await launchWith(mutate, sign);
    expect(page.status).toBe(status);
    expect(title(page.html)).toBe(ja.errors[reason]!.title);
    expectLoggedRejection(reason);
    expect(after).toEqual(before);
  });

  test('a replayed id_token is refused and stores nothing more', async () => {
    const browser = new LtiBrowser('ja');
    const login = await browser.startLogin(emu, launch);
    const form = parseAutoPostForm(await (await fetch(login.authUrl!)).text());
    expect((await browser.postLaunch(form.action, form.fields.id_token!, form.fields.state!)).status).toBe(200);
    const before = await storedRows();
    const replay = await browser.postLaunch(form.action, form.fields.id_token!, form.fields.state!);
    expect(replay.status).toBe(401);
    expect(title(replay.html)).toBe(ja.errors.unknown_state!.title);
    // Replayed under a fresh login: the nonce no longer matches.
    const fresh = await browser.startLogin(emu, launch);
    const rebound = await browser.postLaunch(form.action, form.fields.id_token!, fresh.authUrl!.searchParams.get('state')!);
    expect(rebound.status).toBe(401);
    expect(title(rebound.html)).toBe(ja.errors.nonce_mismatch!.title);
    expect(await storedRows()).toEqual(before);
  });

  test('garbage instead of a token', async () => {
    const browser = new LtiBrowser('ja');
    const before = await storedRows();
    const login = await browser.startLogin(emu, launch);
    const page = await browser.postLaunch(`${tool.url}/lti/launch`, 'not.a.jwt', login.authUrl!.searchParams.get('state')!);
    expect(page.status).toBe(400);
    expect(title(page.html)).toBe(ja.errors.malformed_token!.title);
    expect(await storedRows()).toEqual(before);
  });

  describe('login initiation', () => {
    const post = async (form: Record<string, string>) => {
      const browser = new LtiBrowser('ja');
      const before = await storedRows();
      const res = await browser.fetch(`${tool.url}/lti/login`, { form });
      return { status: res.status, html: await res.text(), before, after: await storedRows() };
    };
    const valid = () => emu.initiateLogin(launch).form;

    test.each<[string, (f: Record<string, string>) => void, number, string]>([
      ['a bogus iss', (f) => { f.iss = 'not a url'; }, 400, 'login_missing_parameters'],
      ['no login_hint', (f) => { delete f.login_hint; }, 400, 'login_missing_parameters'],
      ['an unknown iss', (f) => { f.iss = 'https://unknown-lms.example'; }, 400, 'unregistered_platform'],
      ['an unknown client id', (f) => { f.client_id = 'nobody'; }, 400, 'unregistered_platform'],
      ['a target_link_uri on another site', (f) => { f.target_link_uri = 'https://evil.example/lti/launch'; }, 400, 'login_bad_target'],
      ['a target_link_uri off the launch path', (f) => { f.target_link_uri = `${tool.url}/elsewhere`; }, 400, 'login_bad_target'],
      ['an unknown deployment id', (f) => { f.lti_deployment_id = 'deployment-nobody-registered'; }, 403, 'unknown_deployment'],
    ])('%s is refused with a clear page, logged, nothing stored', async (_name, mutate, status, reason) => {
      const form = valid();
      mutate(form);
      const { status: got, html, before, after } = await post(form);
      expect(got).toBe(status);
      expect(title(html)).toBe(ja.errors[reason]!.title);
      expectLoggedRejection(reason);
      expect(after).toEqual(before);
    });

    test('GET works as well as POST', async () => {
      const res = await new LtiBrowser().fetch(`${tool.url}/lti/login?${new URLSearchParams(valid()).toString()}`);
      expect(res.status).toBe(302);
      const auth = new URL(res.headers.get('location')!);
      expect(auth.origin + auth.pathname).toBe(emu.endpoints.authorization);
      expect(auth.searchParams.get('redirect_uri')).toBe(`${tool.url}/lti/launch`);
      expect(auth.searchParams.get('nonce')).toMatch(/^[\w-]{32}$/);
    });

    test('an inactive platform is refused at login', async () => {
      await tool.app.platforms.setActive(emu.url, clientId, false, 'test');
      try {
        const { status, html, before, after } = await post(valid());
        expect(status).toBe(403);
        expect(title(html)).toBe(ja.errors.inactive_platform!.title);
        expect(after).toEqual(before);
      } finally {
        await tool.app.platforms.setActive(emu.url, clientId, true, 'test');
      }
    });
  });
});
