import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { LmsEmulator } from '../emulator/index.js';
import { RESOURCE_LINK, SAMPLE_COURSE, seedSampleCourse, TEACHER } from '../fixtures/sample-course.js';
import { createTestDatabase, DATABASE_KINDS, type TestDatabase } from '../helpers/databases.js';
import { LtiBrowser, parseAutoPostForm } from '../helpers/lti-client.js';
import { extensionContext } from '../../src/issuance/credential.js';
import { freePort, startTestTool, type TestTool } from '../helpers/tool.js';

const TSX = path.resolve('node_modules/.bin/tsx');

describe.each(DATABASE_KINDS)('health and readiness on %s', (kind) => {
  let target: TestDatabase;
  let tool: TestTool;
  beforeAll(async () => {
    target = await createTestDatabase(kind);
    tool = await startTestTool(target.env);
  });
  afterAll(async () => {
    await tool.server.close();
    await target.dispose();
  });

  test('healthz answers for the process, readyz for the database, and a request id comes back', async () => {
    const health = await fetch(`${tool.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${tool.url}/readyz`, { headers: { 'x-request-id': 'probe-123' } });
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', database: kind === 'pglite' ? 'embedded' : 'server' });
    expect(ready.headers.get('x-request-id')).toBe('probe-123');
    const page = await fetch(`${tool.url}/register`);
    const id = page.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(tool.logs.records()).toContainEqual(expect.objectContaining({ req: expect.objectContaining({ id, path: '/register' }), msg: 'request completed' }));
  });

  test('the credentials\' extension context is served as JSON-LD at the URL they name', async () => {
    const { url, document } = extensionContext(tool.url);
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/ld\+json/);
    expect(await res.json()).toEqual(document);
  });

  test('registering a platform makes its RSA key off the event loop, and the key is published', async () => {
    const crypto = createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto');
    const { generateKeyPairSync } = crypto;
    crypto.generateKeyPairSync = (() => {
      throw new Error('generateKeyPairSync holds every request while it runs');
    }) as typeof generateKeyPairSync;
    try {
      await tool.app.platforms.register({
        issuer: 'https://moodle.keys.example.ac.jp', clientId: 'keys-client', name: 'Moodle', authLoginUrl: 'https://moodle.keys.example.ac.jp/mod/lti/auth.php',
        tokenUrl: 'https://moodle.keys.example.ac.jp/mod/lti/token.php', keysetUrl: 'https://moodle.keys.example.ac.jp/mod/lti/certs.php', deploymentIds: ['1'], source: 'cli', active: true,
      }, 'test');
    } finally {
      crypto.generateKeyPairSync = generateKeyPairSync;
    }
    const platform = await tool.app.lti.getPlatform('https://moodle.keys.example.ac.jp', 'keys-client');
    if (!platform) throw new Error('the platform was not registered');
    const kid = await platform.platformKid();
    const keys = (await (await fetch(`${tool.url}/lti/keys`)).json()) as { keys: Array<{ kid: string; kty: string; n: string }> };
    const published = keys.keys.find((k) => k.kid === kid);
    expect(published).toMatchObject({ kty: 'RSA' });
    expect(Buffer.from(published!.n, 'base64url').length).toBe(512);
  });

  test('with the database gone, readyz says 503 with Retry-After while healthz stays up', async () => {
    await tool.app.close();
    await tool.database.close();
    const ready = await fetch(`${tool.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.headers.get('retry-after')).toBe('5');
    expect(await ready.json()).toMatchObject({ status: 'unavailable' });
    expect((await fetch(`${tool.url}/healthz`)).status).toBe(200);
  });
});

describe('the tool as a process', () => {
  const run = (env: Record<string, string>) => {
    const child = spawn(TSX, ['src/server.ts'], { env: { PATH: process.env.PATH!, HOME: process.env.HOME!, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    return { child, exited, out: () => stdout, err: () => stderr };
  };

  test('a wrong setting stops start-up with one line naming the variable', async () => {
    const target = await createTestDatabase('pglite');
    try {
      const p = run({ ...target.env, PORT: 'eighty' });
      expect(await p.exited).toBe(1);
      expect(p.err().trim()).toBe('Configuration error: PORT must be an integer port between 1 and 65535, e.g. 3000 (got "eighty")');
    } finally {
      await target.dispose();
    }
  });

  test('SIGTERM finishes cleanly: the database is closed and its lock released', async () => {
    const target = await createTestDatabase('pglite');
    try {
      const port = await freePort();
      const p = run({ ...target.env, PORT: String(port) });
      // A first start creates the database (initdb), which takes a while on a loaded machine.
      for (let i = 0; i < 600 && !p.out().includes('tool listening'); i++) await new Promise((r) => setTimeout(r, 100));
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      expect(existsSync(path.join(target.dataDir, 'pgdata.lock'))).toBe(true);
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
      expect(p.out()).toContain('"msg":"tool stopped"');
      expect(existsSync(path.join(target.dataDir, 'pgdata.lock'))).toBe(false);
      for (const line of p.out().trim().split('\n')) expect(() => JSON.parse(line) as unknown).not.toThrow();
    } finally {
      await target.dispose();
    }
  }, 120_000);
});

describe('cookies and state', () => {
  let target: TestDatabase;
  let tool: TestTool;
  let emu: LmsEmulator;
  let clientId: string;

  beforeAll(async () => {
    target = await createTestDatabase('pglite');
    tool = await startTestTool({ ...target.env, LTI_DYNREG_AUTO_ACTIVATE: 'true' });
    emu = new LmsEmulator({ flavor: 'moodle' });
    await emu.start();
    await fetch(emu.dynamicRegistrationUrl(`${tool.url}/register`));
    clientId = emu.tools()[0]!.clientId;
    emu.activateTool(clientId);
    seedSampleCourse(emu, clientId);
  });
  afterAll(async () => {
    await emu.stop();
    await tool.stop();
    await target.dispose();
  });

  test('a launch without the login\'s state cookie, and without platform storage, is refused (ltijs devMode is off)', async () => {
    const login = await new LtiBrowser().startLogin(emu, { userId: TEACHER.id, courseId: SAMPLE_COURSE.id, resourceLinkId: RESOURCE_LINK.id, clientId });
    const form = parseAutoPostForm(await (await fetch(login.authUrl!)).text());
    const cookieless = new LtiBrowser();
    const page = await cookieless.postLaunch(form.action, form.fields.id_token!, form.fields.state!);
    expect(page.status).toBe(401);
    expect(page.html).toContain('This launch could not be tied to your browser');
  });

  test('a target_link_uri with a query keeps the registered launch path as redirect_uri', async () => {
    const params = emu.initiateLogin({ userId: TEACHER.id, courseId: SAMPLE_COURSE.id, resourceLinkId: RESOURCE_LINK.id, clientId });
    const res = await new LtiBrowser().fetch(params.url, { form: { ...params.form, target_link_uri: `${tool.url}/lti/launch?view=dashboard` } });
    expect(res.status).toBe(302);
    expect(new URL(res.headers.get('location')!).searchParams.get('redirect_uri')).toBe(`${tool.url}/lti/launch`);
  });

  test('behind https, cookies are Secure and SameSite=None so launches work in the LMS iframe', async () => {
    const secureTarget = await createTestDatabase('pglite');
    const secure = await startTestTool({ ...secureTarget.env, PUBLIC_URL: 'https://tool.example.ac.jp' });
    try {
      await secure.app.platforms.register({
        issuer: emu.url, clientId: 'secure-client', name: 'Moodle', authLoginUrl: emu.endpoints.authorization, tokenUrl: emu.endpoints.token,
        keysetUrl: emu.endpoints.jwks, deploymentIds: ['1'], source: 'cli', active: true,
      }, 'test');
      const res = await fetch(`${secure.url}/lti/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ iss: emu.url, client_id: 'secure-client', login_hint: TEACHER.id, target_link_uri: 'https://tool.example.ac.jp/lti/launch' }),
        redirect: 'manual',
      });
      expect(res.status).toBe(302);
      const [stateCookie] = res.headers.getSetCookie();
      expect(stateCookie).toMatch(/^state[0-9a-f]+=/);
      expect(stateCookie).toMatch(/; Secure/);
      expect(stateCookie).toMatch(/; SameSite=None/);
      expect(stateCookie).toMatch(/; HttpOnly/);
    } finally {
      await secure.stop();
      await secureTarget.dispose();
    }
  });
});
