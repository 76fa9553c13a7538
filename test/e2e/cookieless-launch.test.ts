import { connectLms, type ConnectedLms } from '../gradebook/connect-lms.js';
import { RESOURCE_LINK, SAMPLE_COURSE, TEACHER, LEARNERS } from '../fixtures/sample-course.js';
import { createTestDatabase, DATABASE_KINDS, type TestDatabase } from '../helpers/databases.js';
import { LtiBrowser, parseAutoPostForm } from '../helpers/lti-client.js';
import { startTestTool, type TestTool } from '../helpers/tool.js';
import type { LaunchParams } from '../emulator/index.js';

const IFRAME = { 'sec-fetch-dest': 'iframe' };
const attr = (html: string, name: string) => new RegExp(`data-${name}="([^"]*)"`).exec(html)?.[1]?.replace(/&amp;/g, '&');
const testId = (html: string, id: string) => new RegExp(`data-testid="${id}"[^>]*>([^<]*)<`).exec(html)?.[1]?.trim().replace(/&#39;/g, "'");

/**
 * Launches as a browser with third-party cookies blocked sees them: the tool's cookies never come
 * back. The page scripts' postMessage exchange runs in the browser test; here each HTTP step is checked.
 */
describe.each(DATABASE_KINDS)('launching where cookies are blocked, on %s', (kind) => {
  let target: TestDatabase;
  let tool: TestTool;
  let lms: ConnectedLms;

  beforeAll(async () => {
    target = await createTestDatabase(kind);
    tool = await startTestTool(target.env);
    lms = await connectLms(tool, { flavor: 'moodle' });
  });
  afterAll(async () => {
    await lms.emu.stop();
    await tool.stop();
    await target.dispose();
  });

  const params = (over: Partial<LaunchParams> = {}): LaunchParams => ({ userId: LEARNERS[0]!.id, courseId: SAMPLE_COURSE.id, resourceLinkId: RESOURCE_LINK.id, clientId: lms.clientId, presentation: 'iframe', ...over });

  /** The login inside the iframe: a page, not a redirect, holding what its script needs. */
  const framedLogin = async (over: Partial<LaunchParams> = {}) => {
    const login = lms.emu.initiateLogin(params(over));
    const res = await new LtiBrowser().fetch(login.url, { form: login.form, headers: IFRAME });
    const html = await res.text();
    return { res, html, login };
  };

  /** The platform's answer to the auth request: the id_token and state the browser posts to the tool. */
  const authorize = async (authUrl: string) => parseAutoPostForm(await (await fetch(authUrl, { redirect: 'manual' })).text()).fields;

  test('the login page keeps state in platform storage, and knows the way to a new window', async () => {
    const { res, html, login } = await framedLogin();
    expect(res.status).toBe(200);
    expect(login.form.lti_storage_target).toBe('_parent');
    expect(res.headers.getSetCookie().some((c) => c.startsWith('state'))).toBe(true);
    const authUrl = new URL(attr(html, 'auth-url')!);
    expect(authUrl.origin + authUrl.pathname).toBe(`${lms.emu.url}/mod/lti/auth.php`);
    expect(attr(html, 'platform-origin')).toBe(lms.emu.url);
    expect(attr(html, 'storage-target')).toBe('_parent');
    expect(attr(html, 'state')).toBe(authUrl.searchParams.get('state'));
    expect(attr(html, 'nonce')).toBe(authUrl.searchParams.get('nonce'));
    expect(html).toContain('/static/lti-storage.js');
    // The new window starts the same login again, first-party, without storage.
    const restart = new URL(/data-testid="open-new-window"/.test(html) ? /href="([^"]*)"[^>]*data-testid="open-new-window"/.exec(html)![1]!.replace(/&amp;/g, '&') : '');
    expect(restart.pathname).toBe('/lti/login');
    expect(restart.searchParams.get('lti_message_hint')).toBe(login.form.lti_message_hint);
    expect(restart.searchParams.has('lti_storage_target')).toBe(false);
    const topLevel = await new LtiBrowser().fetch(restart.toString());
    expect(topLevel.status).toBe(302);
    expect(topLevel.headers.get('location')).toContain('/mod/lti/auth.php');
  });

  test('the cookie check tells the login page whether the state cookie came back', async () => {
    const browser = new LtiBrowser();
    const login = lms.emu.initiateLogin(params());
    const html = await (await browser.fetch(login.url, { form: login.form, headers: IFRAME })).text();
    const check = `${tool.url}${attr(html, 'cookie-check-url')}`;
    expect(await (await browser.fetch(check)).json()).toEqual({ cookie: true });
    expect(await (await new LtiBrowser().fetch(check)).json()).toEqual({ cookie: false });
  });

  test('a launch without its cookie is confirmed from platform storage by a page of the tool, once', async () => {
    const { html } = await framedLogin();
    const fields = await authorize(attr(html, 'auth-url')!);
    const cookieless = new LtiBrowser();
    const checkPage = await cookieless.fetch(`${tool.url}/lti/launch`, { form: { id_token: fields.id_token!, state: fields.state! } });
    expect(checkPage.status).toBe(200);
    const page = await checkPage.text();
    expect(page).toContain('/static/lti-storage.js');
    expect(attr(page, 'platform-origin')).toBe(lms.emu.url);
    const form = parseAutoPostForm(page);
    expect(form.action).toBe('/lti/launch');
    expect(form.fields.state).toBe(fields.state);

    // Not from the tool's page: refused, and the ticket stays unused for the real page.
    const forged = await cookieless.fetch(`${tool.url}/lti/launch`, { form: form.fields, headers: { origin: 'https://attacker.example' } });
    expect(forged.status).toBe(403);
    expect(testId(await forged.text(), 'error-title')).toBe("This launch did not come from the tool's page");
    const wrongNonce = await cookieless.fetch(`${tool.url}/lti/launch`, { form: { ...form.fields, nonce: 'other' }, headers: { origin: tool.url } });
    expect(wrongNonce.status).toBe(401);

    const { html: secondLogin } = await framedLogin();
    const second = await authorize(attr(secondLogin, 'auth-url')!);
    const secondForm = parseAutoPostForm(await (await cookieless.fetch(`${tool.url}/lti/launch`, { form: { id_token: second.id_token!, state: second.state! } })).text());
    const confirmed = await cookieless.fetch(`${tool.url}/lti/launch`, { form: secondForm.fields, headers: { origin: tool.url } });
    expect(confirmed.status).toBe(303);
    const landing = await cookieless.follow(confirmed, `${tool.url}/lti/launch`);
    expect(landing.status).toBe(200);
    expect(testId(landing.html, 'role')).toBe('Learner');
    expect(landing.url).toContain('/lti/launch?ltik=');
    const replay = await cookieless.fetch(`${tool.url}/lti/launch`, { form: secondForm.fields, headers: { origin: tool.url } });
    expect(replay.status).toBe(401);
  });

  test('without platform storage and without the cookie, the launch is refused with a clear page', async () => {
    const { html } = await framedLogin({ platformStorage: false });
    expect(attr(html, 'storage-target')).toBe('');
    const fields = await authorize(attr(html, 'auth-url')!);
    const res = await new LtiBrowser().fetch(`${tool.url}/lti/launch`, { form: { id_token: fields.id_token!, state: fields.state! } });
    expect(res.status).toBe(401);
    expect(testId(await res.text(), 'error-title')).toBe('This launch could not be tied to your browser');
  });

  test('pages may be framed only by registered platforms, and never leak the ltik as a referrer', async () => {
    const page = await new LtiBrowser().launch(lms.emu, params({ presentation: 'window', userId: TEACHER.id }));
    const res = await new LtiBrowser().fetch(page.url);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain(`frame-ancestors 'self' ${lms.emu.url}`);
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(res.headers.get('referrer-policy')).toBe('same-origin');
    const publicPage = await fetch(`${tool.url}/verify`);
    expect(publicPage.headers.get('content-security-policy')).toContain(`frame-ancestors 'self' ${lms.emu.url}`);
  });

  test('state-changing requests are refused from other sites and with the ltik in the URL', async () => {
    const teacher = new LtiBrowser();
    const { ltik } = await teacher.launch(lms.emu, params({ presentation: 'window', userId: TEACHER.id }));
    const sync = `${tool.url}/api/v1/course/sync`;
    const crossSite = await teacher.fetch(sync, { method: 'POST', bearer: ltik, headers: { origin: 'https://attacker.example' } });
    expect(crossSite.status).toBe(403);
    expect(await crossSite.json()).toEqual(expect.objectContaining({ error: 'cross_origin' }));
    const fetchMetadata = await teacher.fetch(sync, { method: 'POST', bearer: ltik, headers: { 'sec-fetch-site': 'cross-site', origin: tool.url } });
    expect(fetchMetadata.status).toBe(403);
    // Chrome's "Origin: null" on our own form after the launch's cross-site redirect: Sec-Fetch-Site decides.
    const nullOrigin = await teacher.fetch(sync, { method: 'POST', bearer: ltik, headers: { 'sec-fetch-site': 'same-origin', origin: 'null' } });
    expect(nullOrigin.status).toBe(200);
    const inUrl = await teacher.fetch(`${sync}?ltik=${ltik}`, { method: 'POST', headers: { origin: tool.url } });
    expect(inUrl.status).toBe(400);
    expect(await inUrl.json()).toEqual(expect.objectContaining({ error: 'ltik_in_query' }));
    // A form on another site, in the teacher's own browser: no ltik rides along with cookies.
    const claim = await teacher.fetch(`${tool.url}/app/credentials/00000000-0000-4000-8000-000000000000/claim`, { form: {}, headers: { origin: 'https://attacker.example', accept: 'text/html' } });
    expect(claim.status).toBe(403);
    expect(testId(await claim.text(), 'error-title')).toBe('This request came from another site');
    const ours = await teacher.fetch(sync, { method: 'POST', bearer: ltik, headers: { origin: tool.url, 'sec-fetch-site': 'same-origin' } });
    expect(ours.status).toBe(200);
    // A course with no credentials yet syncs too: its results are stored, nothing is decided.
    expect(await ours.json()).toEqual(expect.objectContaining({ learners: 30, qualified: 0, newAwards: 0 }));
  });
});
