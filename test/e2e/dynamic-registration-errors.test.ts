import express from 'express';
import type { Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { LmsEmulator } from '../emulator/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { freePort, startTestTool, type TestTool } from '../helpers/tool.js';

const en = JSON.parse(readFileSync('config/locales/en.json', 'utf8')) as { errors: { registration: Record<string, { title: string }> } };
const title = (html: string) => /data-testid="error-title">([^<]*)</.exec(html)?.[1];

/** A platform that misbehaves in the ways the tests pick. */
async function brokenPlatform(): Promise<{ url: string; host: string; server: Server; configs: Map<string, unknown> }> {
  const app = express();
  const configs = new Map<string, unknown>();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  app.get('/config/:name', (req, res) => {
    const body = configs.get(req.params.name);
    if (typeof body === 'string') return res.type('text/html').send(body);
    return res.json(body);
  });
  app.post('/register/refuses', (_req, res) => res.status(400).json({ error: 'invalid_client_metadata', error_description: 'redirect_uris must be https' }));
  app.post('/register/no-client-id', (_req, res) => res.json({ hello: 'world' }));
  app.get('/config-redirect', (_req, res) => res.redirect(`${base}/config/ok`));
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(port, '127.0.0.1', () => resolve(s));
  });
  return { url: base, host: `127.0.0.1:${port}`, server, configs };
}

const platformConfig = (base: string, registration: string, issuer = base) => ({
  issuer,
  authorization_endpoint: `${base}/auth`,
  token_endpoint: `${base}/token`,
  jwks_uri: `${base}/jwks`,
  registration_endpoint: `${base}${registration}`,
  'https://purl.imsglobal.org/spec/lti-platform-configuration': { product_family_code: 'moodle' },
});

describe('Dynamic Registration failures give a clear page and register nothing', () => {
  let target: TestDatabase;
  let tool: TestTool;
  let platform: Awaited<ReturnType<typeof brokenPlatform>>;
  let closedPort: number;

  beforeAll(async () => {
    target = await createTestDatabase('pglite');
    tool = await startTestTool(target.env);
    platform = await brokenPlatform();
    closedPort = await freePort();
    const p = platform.url;
    platform.configs.set('not-json', '<html>Moodle is under maintenance</html>');
    platform.configs.set('missing-fields', { issuer: p });
    platform.configs.set('other-host', platformConfig(p, '/register/refuses', 'https://moodle.other-university.example'));
    platform.configs.set('registration-elsewhere', { ...platformConfig(p, ''), registration_endpoint: 'http://localhost:8/register' });
    platform.configs.set('refuses', platformConfig(p, '/register/refuses'));
    platform.configs.set('no-client-id', platformConfig(p, '/register/no-client-id'));
    platform.configs.set('ok', platformConfig(p, '/register/refuses'));
  });
  afterAll(async () => {
    platform.server.close();
    await tool.stop();
    await target.dispose();
  });

  const register = async (openidConfiguration: string) => {
    const res = await fetch(`${tool.url}/register?openid_configuration=${encodeURIComponent(openidConfiguration)}&registration_token=t0k3n`, { headers: { 'accept-language': 'en' } });
    return { status: res.status, html: await res.text() };
  };

  test.each([
    ['an unreachable openid_configuration', () => `http://127.0.0.1:${closedPort}/config`, 502, 'config_unreachable', /ECONNREFUSED/],
    ['a non-JSON configuration', () => `${platform.url}/config/not-json`, 502, 'config_malformed', /did not answer with JSON/],
    ['a configuration missing endpoints', () => `${platform.url}/config/missing-fields`, 502, 'config_malformed', /authorization_endpoint/],
    ['a configuration that is not a URL', () => 'javascript:alert(1)', 502, 'config_malformed', /only http\(s\) URLs/],
    ['a configuration behind a redirect', () => `${platform.url}/config-redirect`, 502, 'config_unreachable', /redirect .* not followed/],
    ['an issuer on another host', () => `${platform.url}/config/other-host`, 400, 'config_host_mismatch', /moodle\.other-university\.example/],
    ['a registration endpoint on another host', () => `${platform.url}/config/registration-elsewhere`, 400, 'config_host_mismatch', /localhost:8/],
    ['a platform that refuses the registration', () => `${platform.url}/config/refuses`, 502, 'registration_rejected', /invalid_client_metadata: redirect_uris must be https/],
    ['a platform answering without a client_id', () => `${platform.url}/config/no-client-id`, 502, 'registration_malformed', /client_id/],
  ])('%s', async (_name, url, status, failure, detail) => {
    const { status: got, html } = await register(url());
    expect(got).toBe(status);
    expect(title(html)).toBe(en.errors.registration[failure]!.title);
    expect(html).toMatch(detail);
    expect(tool.logs.records()).toContainEqual(expect.objectContaining({ failure, msg: 'dynamic registration failed' }));
    expect(await tool.app.platforms.list()).toEqual([]);
    expect(html).not.toContain('t0k3n');
  });

  test('registering the same platform twice says so', async () => {
    const emu = new LmsEmulator({ flavor: 'canvas' });
    await emu.start();
    try {
      expect((await fetch(emu.dynamicRegistrationUrl(`${tool.url}/register`))).status).toBe(200);
      const [registered] = await tool.app.platforms.list();
      // The same issuer and client id again, as a second registration of the same key would bring.
      const clash = await tool.app.platforms.register({
        issuer: registered!.issuer, clientId: registered!.clientId, name: 'again', authLoginUrl: emu.endpoints.authorization,
        tokenUrl: emu.endpoints.token, keysetUrl: emu.endpoints.jwks, deploymentIds: ['x'], source: 'cli', active: true,
      }, 'test').catch((e: Error) => e.message);
      expect(clash).toMatch(/already registered/);
      expect(await tool.app.platforms.list()).toHaveLength(1);
    } finally {
      await emu.stop();
    }
  });

  test('opened without parameters, /register explains itself', async () => {
    const res = await fetch(`${tool.url}/register`, { headers: { 'accept-language': 'ja,en;q=0.5' } });
    const html = await res.text();
    expect(res.status).toBe(200);
    expect(html).toContain('LMS にこのツールを登録する');
    expect(html).toContain(`${tool.url}/register`);
  });
});
