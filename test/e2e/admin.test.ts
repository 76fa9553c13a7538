import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { LmsEmulator } from '../emulator/index.js';
import { ADMIN, LEARNERS, RESOURCE_LINK, SAMPLE_COURSE, seedSampleCourse, TEACHER } from '../fixtures/sample-course.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { LtiBrowser } from '../helpers/lti-client.js';
import { startTestTool, type TestTool } from '../helpers/tool.js';

const PASSWORD = 'correct horse battery staple';
const text = (html: string, testId: string) => new RegExp(`data-testid="${testId}"[^>]*>([^<]*)<`).exec(html)?.[1]?.trim();
const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)?.[1];

describe('ADMIN_PASSWORD', () => {
  const dataDir = () => mkdtempSync(path.join(os.tmpdir(), 'microcred-config-'));

  test('a password under 12 characters stops start-up with one line naming the variable, without echoing it', () => {
    let message = '';
    try {
      loadConfig({ DATA_DIR: dataDir(), ADMIN_PASSWORD: 'short-pw' });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      message = (err as Error).message;
    }
    expect(message).toMatch(/^Configuration error: ADMIN_PASSWORD must be a password of at least 12 characters/);
    expect(message).not.toContain('short-pw');
    expect(message).not.toContain('\n');
  });

  test('unset or empty turns the local admin off; a long one is kept', () => {
    expect(loadConfig({ DATA_DIR: dataDir() }).adminPassword).toBeUndefined();
    expect(loadConfig({ DATA_DIR: dataDir(), ADMIN_PASSWORD: '' }).adminPassword).toBeUndefined();
    expect(loadConfig({ DATA_DIR: dataDir(), ADMIN_PASSWORD: PASSWORD }).adminPassword).toBe(PASSWORD);
  });
});

describe('the local admin page without ADMIN_PASSWORD', () => {
  let target: TestDatabase;
  let tool: TestTool;
  beforeAll(async () => {
    target = await createTestDatabase('pglite');
    tool = await startTestTool(target.env);
  });
  afterAll(async () => {
    await tool.stop();
    await target.dispose();
  });

  test('says it is off and how to turn it on, in the user\'s language; sign-in does not exist', async () => {
    const en = await request(tool.url).get('/admin').set('accept-language', 'en');
    expect(en.status).toBe(200);
    expect(text(en.text, 'admin-off')).toBe('The local admin page is off');
    expect(en.text).toContain('ADMIN_PASSWORD');
    const ja = await request(tool.url).get('/admin').set('accept-language', 'ja');
    expect(text(ja.text, 'admin-off')).toBe('ローカル管理ページは無効です');
    expect((await request(tool.url).post('/admin/login').type('form').send({ password: 'anything at all' })).status).toBe(404);
  });
});

describe('the admin screens', () => {
  let target: TestDatabase;
  let tool: TestTool;
  let emu: LmsEmulator;
  let clientId: string;
  let cookie: string;
  let csrf: string;
  const OTHER = { clientId: 'other-client', name: 'Other Moodle' };

  /** A signed-in local admin's request, from the tool's own origin unless told otherwise. */
  const adminPost = (url: string, form: Record<string, string>, { origin = tool.url, lang = 'en' } = {}) =>
    request(tool.url).post(url).set('cookie', cookie).set('origin', origin).set('accept-language', lang).type('form').send(form);
  const adminGet = (url: string, lang = 'en') => request(tool.url).get(url).set('cookie', cookie).set('accept-language', lang);

  beforeAll(async () => {
    target = await createTestDatabase('pglite');
    tool = await startTestTool({ ...target.env, ADMIN_PASSWORD: PASSWORD });
    emu = new LmsEmulator({ flavor: 'moodle' });
    await emu.start();
    // Dynamic Registration leaves the platform pending, as a tool admin must activate it.
    await fetch(emu.dynamicRegistrationUrl(`${tool.url}/register`));
    clientId = emu.tools()[0]!.clientId;
    emu.activateTool(clientId);
    seedSampleCourse(emu, clientId);
    await tool.app.platforms.register({
      issuer: emu.url, clientId: OTHER.clientId, name: OTHER.name, authLoginUrl: emu.endpoints.authorization, tokenUrl: emu.endpoints.token,
      keysetUrl: emu.endpoints.jwks, deploymentIds: ['other-deployment'], source: 'cli', active: true,
    }, 'cli');
  });
  afterAll(async () => {
    await emu.stop();
    await tool.stop();
    await target.dispose();
  });

  test('a wrong password is refused; the right one starts an 8-hour strict session cookie', async () => {
    expect((await request(tool.url).get('/admin/platforms')).headers.location).toBe('/admin/login');
    const wrong = await request(tool.url).post('/admin/login').type('form').send({ password: 'not the password' });
    expect(wrong.status).toBe(401);
    expect(text(wrong.text, 'login-failed')).toMatch(/^That password is not correct/);
    expect(wrong.headers['set-cookie']).toBeUndefined();

    const right = await request(tool.url).post('/admin/login').set('origin', tool.url).type('form').send({ password: PASSWORD });
    expect(right.status).toBe(303);
    expect(right.headers.location).toBe('/admin/platforms');
    const [set] = right.headers['set-cookie'] as unknown as string[];
    expect(set).toMatch(/^admin_session=[\w-]+\.[\w-]+; Max-Age=28800; Path=\/admin; Expires=[^;]+; HttpOnly; SameSite=Strict$/);
    cookie = set!.split(';')[0]!;
    const page = await adminGet('/admin/platforms');
    expect(page.status).toBe(200);
    csrf = csrfOf(page.text)!;
    expect(csrf).toBeDefined();
  });

  test('a forged or expired-looking session cookie is no session', async () => {
    const forged = await request(tool.url).get('/admin/platforms').set('cookie', `${cookie.slice(0, -2)}xx`);
    expect(forged.headers.location).toBe('/admin/login');
  });

  test('five wrong passwords lock that address for fifteen minutes, even for the right password; others still sign in', async () => {
    const from = (ip: string) => request(tool.url).post('/admin/login').set('x-forwarded-for', ip).type('form');
    for (let i = 0; i < 5; i++) expect((await from('203.0.113.7').send({ password: `wrong guess ${i}` })).status).toBe(401);
    const locked = await from('203.0.113.7').send({ password: PASSWORD });
    expect(locked.status).toBe(429);
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(14 * 60);
    expect(text(locked.text, 'error-title')).toBe('Too many sign-in attempts');
    expect(locked.text).toContain('Wait 15 minutes');
    expect((await from('203.0.113.8').send({ password: PASSWORD })).status).toBe(303);
  });

  test('a state-changing request without the session\'s form token, with a wrong one, or from another origin changes nothing', async () => {
    const form = { issuer: emu.url, clientId };
    const noToken = await adminPost('/admin/platforms/activate', form);
    expect(noToken.status).toBe(403);
    expect(text(noToken.text, 'error-title')).toBe('This form has expired');
    // A token with its last character changed (to one it is not: a base64url token ends in A one time in 16).
    const wrongToken = `${csrf.slice(0, -1)}${csrf.endsWith('A') ? 'E' : 'A'}`;
    expect((await adminPost('/admin/platforms/activate', { ...form, csrf: wrongToken })).status).toBe(403);
    const noSession = await request(tool.url).post('/admin/platforms/activate').type('form').send({ ...form, csrf });
    expect(noSession.status).toBe(403);
    const foreign = await adminPost('/admin/platforms/activate', { ...form, csrf }, { origin: 'https://evil.example' });
    expect(foreign.status).toBe(403);
    expect(text(foreign.text, 'error-title')).toBe('Request from another site refused');
    const ja = await adminPost('/admin/platforms/activate', { ...form, csrf }, { origin: 'https://evil.example', lang: 'ja' });
    expect(text(ja.text, 'error-title')).toBe('他のサイトからのリクエストを拒否しました');
    expect((await tool.app.platforms.get(emu.url, clientId)).active).toBe(false);
  });

  test('the pending platform is listed, activated and deactivated, and appears in the right list each time', async () => {
    const before = await adminGet('/admin/platforms');
    const pendingTable = /data-testid="platforms-pending"[\s\S]*?<\/table>/.exec(before.text)![0];
    expect(pendingTable).toContain(`<code>${clientId}</code>`);
    expect(pendingTable).toContain(`<code>${emu.tools()[0]!.deploymentId}</code>`);
    expect(/data-testid="platforms-active"[\s\S]*?<\/table>/.exec(before.text)![0]).toContain(`<code>${OTHER.clientId}</code>`);

    const activated = await adminPost('/admin/platforms/activate', { issuer: emu.url, clientId, csrf });
    expect(activated.status).toBe(303);
    expect((await tool.app.platforms.get(emu.url, clientId)).active).toBe(true);
    const after = await adminGet('/admin/platforms');
    expect(/data-testid="platforms-active"[\s\S]*?<\/table>/.exec(after.text)![0]).toContain(`<code>${clientId}</code>`);

    expect((await adminPost('/admin/platforms/deactivate', { issuer: emu.url, clientId, csrf })).status).toBe(303);
    expect((await tool.app.platforms.get(emu.url, clientId)).active).toBe(false);
    expect((await adminPost('/admin/platforms/activate', { issuer: emu.url, clientId, csrf })).status).toBe(303);
    expect((await adminPost('/admin/platforms/activate', { issuer: emu.url, clientId: 'no-such-client', csrf })).status).toBe(404);
    expect((await adminPost('/admin/platforms/activate', { csrf })).status).toBe(400);
  });

  test.each([
    ['en', 'Use lower-case letters, digits and hyphens', 'Enter a full http(s) address', 'Enter a two-letter ISO 3166-1 code in capitals, e.g. JP.'],
    ['ja', '英小文字・数字・ハイフンで 63 文字以内', 'http(s) から始まる完全なアドレスを入力してください', 'ISO 3166-1 の 2 文字の大文字コードを入力してください（例：JP）。'],
  ])('an issuer with bad fields is shown again with each error beside its field, in %s, keeping the input', async (lang, slugError, urlError, countryError) => {
    const res = await adminPost('/admin/issuers', { csrf, slug: 'Faculty Of Science', name: '理学部', url: 'not a url', countryCode: 'jp', email: 'registrar@example.ac.jp' }, { lang });
    expect(res.status).toBe(400);
    expect(text(res.text, 'error-slug')).toMatch(new RegExp(`^${slugError.replace(/[()]/g, '\\$&')}`));
    expect(text(res.text, 'error-url')).toMatch(new RegExp(`^${urlError.replace(/[()]/g, '\\$&')}`));
    expect(text(res.text, 'error-countryCode')).toBe(countryError);
    expect(text(res.text, 'error-name')).toBeUndefined();
    expect(res.text).toMatch(/<input id="field-slug" name="slug" type="text" value="Faculty Of Science" aria-describedby="hint-slug error-slug" aria-invalid="true"/);
    expect(res.text).toContain('value="registrar@example.ac.jp"');
    expect((await tool.app.issuers.list()).map((i) => i.slug)).toEqual(['default']);
  });

  test('a valid issuer is added, edited, and a taken slug is refused beside the field', async () => {
    const form = { csrf, slug: 'faculty-of-science', name: '理学部 / Faculty of Science', countryCode: 'JP', url: 'https://www.example.ac.jp' };
    const created = await adminPost('/admin/issuers', form);
    expect(created.status).toBe(303);
    expect(created.headers.location).toBe('/admin/issuers/faculty-of-science');
    const taken = await adminPost('/admin/issuers', form);
    expect(text(taken.text, 'error-slug')).toBe('Another issuer has this slug already; choose another one.');
    const edited = await adminPost('/admin/issuers/faculty-of-science', { csrf, name: 'Faculty of Science', countryCode: 'JP', email: 'science@example.ac.jp' });
    expect(edited.status).toBe(303);
    expect(await tool.app.issuers.bySlug('faculty-of-science')).toMatchObject({ name: 'Faculty of Science', email: 'science@example.ac.jp', url: null, country_code: 'JP' });
    const badEdit = await adminPost('/admin/issuers/faculty-of-science', { csrf, name: '', email: 'nope' });
    expect(badEdit.status).toBe(400);
    expect(text(badEdit.text, 'error-email')).toBe('Enter an email address, e.g. registrar@example.ac.jp.');
    expect((await adminPost('/admin/issuers/no-such-issuer', { csrf, name: 'x' })).status).toBe(404);
  });

  test('rotating a key needs the confirmation; the new key is current and the old one stays in the DID document', async () => {
    const before = await adminGet('/admin/issuers/default');
    const oldKey = /data-testid="current-key">\s*<th scope="row"><code>([^<]+)<\/code>/.exec(before.text)![1]!;
    const unconfirmed = await adminPost('/admin/issuers/default/rotate', { csrf });
    expect(unconfirmed.status).toBe(400);
    expect(text(unconfirmed.text, 'rotate-error')).toBe('Tick the box to confirm the rotation.');

    const rotated = await adminPost('/admin/issuers/default/rotate', { csrf, confirm: 'yes' });
    expect(rotated.status).toBe(303);
    const after = await adminGet(rotated.headers.location!);
    expect(text(after.text, 'rotated')).toMatch(/^The key was rotated/);
    const newKey = /data-testid="current-key">\s*<th scope="row"><code>([^<]+)<\/code>/.exec(after.text)![1]!;
    expect(newKey).not.toBe(oldKey);
    expect(/data-testid="retired-key">\s*<th scope="row"><code>([^<]+)<\/code>/.exec(after.text)![1]).toBe(oldKey);
    const did = await (await fetch(`${tool.url}/issuers/default/did.json`)).json() as { assertionMethod: string[] };
    expect(did.assertionMethod).toEqual([oldKey, newKey]);
  });

  test('the audit log lists the admin\'s actions newest first with the actor, and filters by action', async () => {
    const page = await adminGet('/admin/audit');
    expect(page.status).toBe(200);
    const actions = [...page.text.matchAll(/data-testid="audit-entry">[\s\S]*?<th scope="row"><code>([^<]+)<\/code>/g)].map((m) => m[1]);
    expect(actions.slice(0, 8)).toEqual(['issuer.key_rotated', 'issuer.updated', 'issuer.created', 'platform.activate', 'platform.deactivate', 'platform.activate', 'admin.login', 'admin.login_locked']);
    expect(page.text).toContain('<code>local-admin</code>');
    const filtered = await adminGet('/admin/audit?action=platform.activate');
    expect([...filtered.text.matchAll(/data-testid="audit-entry"/g)]).toHaveLength(2);
    expect(filtered.text).toContain('<option value="platform.activate" selected>');
    expect((await adminGet('/admin/audit?page=zero')).status).toBe(400);
    expect((await adminGet('/admin/audit?action=%3Cscript%3E')).status).toBe(400);
    expect((await adminGet('/admin/audit?page=2')).text).toContain('No entries.');
  });

  test('learners and teachers launched from the LMS get 403 on the admin screens', async () => {
    for (const user of [LEARNERS[0]!, TEACHER]) {
      const browser = new LtiBrowser('en');
      const launch = await browser.launch(emu, { userId: user.id, courseId: SAMPLE_COURSE.id, resourceLinkId: RESOURCE_LINK.id, clientId });
      expect(launch.status).toBe(200);
      expect(launch.html).not.toContain('data-testid="admin-links"');
      const res = await browser.fetch(`${tool.url}/app/admin/platforms?ltik=${launch.ltik}`);
      expect(res.status).toBe(403);
      expect(text(await res.text(), 'error-title')).toMatch(/^(For administrators only|管理者専用です)$/);
    }
  });

  test('an LMS administrator manages only their own platform: another\'s is not found, their own is not deactivated from a launch', async () => {
    const browser = new LtiBrowser('en');
    const launch = await browser.launch(emu, { userId: ADMIN.id, courseId: SAMPLE_COURSE.id, resourceLinkId: RESOURCE_LINK.id, clientId });
    expect(launch.status).toBe(200);
    expect(launch.html).toContain(`/app/admin/platforms?ltik=${launch.ltik}`);
    const ltik = launch.ltik!;

    const platformsPage = await (await browser.fetch(`${tool.url}/app/admin/platforms?ltik=${ltik}`)).text();
    expect(platformsPage).toContain(`<code>${clientId}</code>`);
    expect(platformsPage).not.toContain(OTHER.clientId);
    expect(platformsPage).not.toContain('data-testid="deactivate"');

    const other = await browser.fetch(`${tool.url}/app/admin/platforms/deactivate`, { form: { ltik, issuer: emu.url, clientId: OTHER.clientId } });
    expect(other.status).toBe(404);
    const own = await browser.fetch(`${tool.url}/app/admin/platforms/deactivate`, { form: { ltik, issuer: emu.url, clientId } });
    expect(own.status).toBe(403);
    expect(text(await own.text(), 'error-title')).toBe('Not from your own launch');
    expect((await tool.app.platforms.get(emu.url, OTHER.clientId)).active).toBe(true);
    expect((await tool.app.platforms.get(emu.url, clientId)).active).toBe(true);

    const added = await browser.fetch(`${tool.url}/app/admin/platforms/deployments`, { form: { ltik, issuer: emu.url, clientId, deploymentId: 'second-placement' } });
    expect(added.status).toBe(303);
    expect((await tool.app.platforms.get(emu.url, clientId)).deploymentIds).toContain('second-placement');
    const foreignDeployment = await browser.fetch(`${tool.url}/app/admin/platforms/deployments`, { form: { ltik, issuer: emu.url, clientId: OTHER.clientId, deploymentId: 'sneaky' } });
    expect(foreignDeployment.status).toBe(404);
    expect((await tool.app.platforms.get(emu.url, OTHER.clientId)).deploymentIds).toEqual(['other-deployment']);

    const audit = await (await browser.fetch(`${tool.url}/app/admin/audit?ltik=${ltik}`)).text();
    expect(audit).toContain(`${emu.url} ${clientId}`);
    expect(audit).toContain(`<code>lti ${encodeURIComponent(emu.url)} ${clientId} ${ADMIN.id}</code>`);
    expect(audit).toContain('&#34;deploymentId&#34;:&#34;second-placement&#34;');
    expect(audit).not.toContain(OTHER.clientId);
    expect(audit).not.toContain('issuer.key_rotated');

    const issuers = await (await browser.fetch(`${tool.url}/app/admin/issuers/default?ltik=${ltik}`)).text();
    expect(issuers).toContain('data-testid="current-key"');
    expect(issuers).not.toContain('data-testid="rotate"');
    const rotate = await browser.fetch(`${tool.url}/app/admin/issuers/default/rotate`, { form: { ltik, confirm: 'yes' } });
    expect(rotate.status).toBe(403);
  });
});
