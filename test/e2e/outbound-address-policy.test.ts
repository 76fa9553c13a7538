import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { LmsEmulator } from '../emulator/index.js';
import { RESOURCE_LINK, SAMPLE_COURSE, seedSampleCourse, TEACHER } from '../fixtures/sample-course.js';
import { createTestDatabase, DATABASE_KINDS, type TestDatabase } from '../helpers/databases.js';
import { LtiBrowser } from '../helpers/lti-client.js';
import { startTestTool, type TestTool } from '../helpers/tool.js';

type Texts = { title: string; message: string; action: string };
const locale = (lang: 'en' | 'ja') => JSON.parse(readFileSync(`config/locales/${lang}.json`, 'utf8')) as {
  errors: { registration: Record<string, Texts> } & Record<string, Texts>;
};
const LOCALES = { en: locale('en'), ja: locale('ja') };
const unescape = (html: string) => html.replace(/&#39;/g, "'").replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
const text = (html: string, testId: string) => new RegExp(`data-testid="${testId}"[^>]*>([^<]*)<`).exec(html)?.[1];

/** The HTTP client ltijs verifies id_tokens with (got), as ltijs itself loads it. */
const ltijsHttp = createRequire(path.resolve('package.json'))('ltijs/dist/Utils/Http') as { get(url: string): { json(): Promise<unknown> } };

describe.each(DATABASE_KINDS)('OUTBOUND_ALLOW_PRIVATE_NETWORKS=false on %s: the tool connects to no private address', (kind) => {
  let target: TestDatabase;
  let tool: TestTool;
  let emu: LmsEmulator;

  beforeAll(async () => {
    target = await createTestDatabase(kind);
    tool = await startTestTool({ ...target.env, OUTBOUND_ALLOW_PRIVATE_NETWORKS: 'false' });
    emu = new LmsEmulator({ flavor: 'moodle' });
    await emu.start();
  });
  afterAll(async () => {
    await emu.stop();
    await tool.stop();
    await target.dispose();
  });
  beforeEach(() => {
    emu.requests.length = 0;
  });

  const port = () => new URL(emu.url).port;

  test.each([
    ['127.0.0.1', 'en', () => `platform URL http://127.0.0.1:${port()} points to 127.0.0.1, a loopback address`],
    ['127.0.0.1', 'ja', () => `platform URL http://127.0.0.1:${port()} points to 127.0.0.1, a loopback address`],
    ['localhost', 'en', () => `platform URL http://localhost:${port()} resolves to `],
    ['localhost', 'ja', () => `platform URL http://localhost:${port()} resolves to `],
  ] as const)('Dynamic Registration from an LMS on %s is refused with a clear page (%s), and nothing is sent or stored', async (host, lang, refusal) => {
    const before = await tool.app.platforms.list();
    const registration = new URL(emu.dynamicRegistrationUrl(`${tool.url}/register`));
    const configuration = new URL(registration.searchParams.get('openid_configuration')!);
    configuration.hostname = host;
    registration.searchParams.set('openid_configuration', configuration.toString());

    const res = await fetch(registration, { headers: { 'accept-language': lang } });
    const html = unescape(await res.text());

    const texts = LOCALES[lang].errors.registration.address_refused!;
    expect(res.status).toBe(400);
    expect(text(html, 'error-title')).toBe(texts.title);
    expect(html).toContain(texts.action);
    const message = text(html, 'error-message')!;
    expect(message).toContain(refusal());
    expect(message).toMatch(/, a loopback address; set OUTBOUND_ALLOW_PRIVATE_NETWORKS=true if the LMS is on your private network/);
    expect(message).not.toContain(registration.searchParams.get('registration_token')!);
    expect(emu.requests).toEqual([]);
    expect(await tool.app.platforms.list()).toEqual(before);
    expect(tool.logs.records()).toContainEqual(expect.objectContaining({ failure: 'address_refused', msg: 'dynamic registration failed' }));
  });

  test('a launch from a platform whose key set is on loopback is refused, and the key set is never fetched', async () => {
    const registered = emu.registerTool({
      name: 'Micro-credentials', initiateLoginUri: `${tool.url}/lti/login`, redirectUris: [`${tool.url}/lti/launch`],
      targetLinkUri: `${tool.url}/lti/launch`, jwksUri: `${tool.url}/lti/keys`, scopes: [],
    });
    emu.activateTool(registered.clientId);
    // Registered by hand, as an operator can with the CLI whatever the policy.
    await tool.app.platforms.register({
      issuer: emu.url, clientId: registered.clientId, name: 'Moodle', authLoginUrl: emu.endpoints.authorization, tokenUrl: emu.endpoints.token,
      keysetUrl: emu.endpoints.jwks, deploymentIds: [registered.deploymentId], source: 'cli', active: true,
    }, 'test');
    seedSampleCourse(emu, registered.clientId);

    const page = await new LtiBrowser('ja').launch(emu, { userId: TEACHER.id, courseId: SAMPLE_COURSE.id, resourceLinkId: RESOURCE_LINK.id, clientId: registered.clientId });

    expect(page.status).toBe(401);
    expect(text(page.html, 'error-title')).toBe(LOCALES.ja.errors.bad_signature!.title);
    expect(tool.logs.records()).toContainEqual(expect.objectContaining({
      reason: 'bad_signature',
      detail: `platform URL ${emu.url} points to 127.0.0.1, a loopback address; set OUTBOUND_ALLOW_PRIVATE_NETWORKS=true if the LMS is on your private network`,
    }));
    expect(emu.requests.filter((r) => r.path === new URL(emu.endpoints.jwks).pathname)).toEqual([]);
  });

  test('ltijs\'s own key set fetch, which follows redirects, is held to the policy while the tool runs', async () => {
    await expect(ltijsHttp.get(emu.endpoints.jwks).json()).rejects.toThrow('127.0.0.1 is a loopback address; set OUTBOUND_ALLOW_PRIVATE_NETWORKS=true');
    await expect(ltijsHttp.get(emu.endpoints.jwks.replace('127.0.0.1', 'localhost')).json()).rejects.toThrow(/^localhost resolves to \S+, a loopback address/);
    expect(emu.requests).toEqual([]);
  });
});
