import { sql } from 'kysely';
import { DATABASE_CONNECT_TIMEOUT_MS, DATABASE_RETRY_AFTER_S } from '../../src/db/availability.js';
import { LEARNERS, RESOURCE_LINK, SAMPLE_COURSE, TEACHER } from '../fixtures/sample-course.js';
import { connectLms, defineQuizCredential, type ConnectedLms } from '../gradebook/connect-lms.js';
import { proxiedDatabase, type ProxiedDatabase } from '../helpers/cuttable-proxy.js';
import { createTestDatabase, DATABASE_KINDS, type TestDatabase } from '../helpers/databases.js';
import { LtiBrowser, parseAutoPostForm } from '../helpers/lti-client.js';
import { startTestTool, type TestTool } from '../helpers/tool.js';

const testId = (html: string, id: string) => new RegExp(`data-testid="${id}"[^>]*>([^<]*)<`).exec(html)?.[1]?.trim();
const pageLanguage = (html: string) => /<html lang="([^"]+)"/.exec(html)?.[1];

const TITLE = { en: 'The tool&#39;s database cannot be reached', ja: 'ツールのデータベースに接続できません' };
const MESSAGE = { en: 'The tool could not reach its database to answer this request.', ja: 'データベースに接続できなかったため、このリクエストに応答できませんでした。' };
/** A request still unanswered after this is hanging: the test fails instead of waiting for jest. */
const REQUEST_TIMEOUT_MS = DATABASE_CONNECT_TIMEOUT_MS + 15_000;

async function until<T>(probe: () => Promise<T | undefined | null | false>, timeoutMs = 45_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Answer {
  status: number;
  retryAfter: string | null;
  requestId: string | null;
  location: string | null;
  csp: string | null;
  type: string;
  body: string;
  ms: number;
}

/**
 * The database taken away under a running tool by a real proxy between them (TCP to the server,
 * the unix socket to PGlite): refused, then hanging, then back. Every request that needs it
 * answers 503 with Retry-After in the user's language, liveness stays up, nothing crashes, and
 * the same process serves again, background syncs included, once the database returns.
 */
describe.each(DATABASE_KINDS)('a database outage on %s', (kind) => {
  let target: TestDatabase;
  let proxied: ProxiedDatabase;
  let tool: TestTool;
  let lms: ConnectedLms;
  let teacherLtik: string;
  let learnerLtik: string;
  let issuedId: string;
  let signedCredential: string;
  let courseRef: string;

  const launchOf = (userId: string) => ({ userId, courseId: SAMPLE_COURSE.id, resourceLinkId: RESOURCE_LINK.id, clientId: lms.clientId });

  const answer = async (res: Promise<Response>): Promise<Answer> => {
    const started = Date.now();
    const r = await res;
    return {
      status: r.status, retryAfter: r.headers.get('retry-after'), requestId: r.headers.get('x-request-id'), location: r.headers.get('location'), csp: r.headers.get('content-security-policy'),
      type: r.headers.get('content-type') ?? '', body: await r.text(), ms: Date.now() - started,
    };
  };
  const get = (path: string, headers: Record<string, string> = {}) => answer(fetch(`${tool.url}${path}`, { headers, redirect: 'manual', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) }));

  /** The requests a database outage must answer with 503; each answers normally once it is back. */
  const requests = {
    learnerPage: () => get(`/app/issued/${issuedId}?ltik=${learnerLtik}`, { 'accept-language': 'ja' }),
    teacherPage: () => get(`/lti/launch?ltik=${teacherLtik}`, { 'accept-language': 'en' }),
    api: () => get('/api/v1/issued', { authorization: `Bearer ${learnerLtik}`, accept: 'application/json', 'accept-language': 'ja' }),
    verify: () => answer(fetch(`${tool.url}/api/v1/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: signedCredential, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })),
    /** A fresh launch: its login's answer if that fails, else the page it lands on. */
    launch: async (): Promise<Answer> => {
      const browser = new LtiBrowser('ja');
      const initiation = lms.emu.initiateLogin(launchOf(LEARNERS[4]!.id));
      const login = await answer(browser.fetch(initiation.url, { form: initiation.form }));
      if (!login.location) return login;
      const form = parseAutoPostForm(await (await fetch(login.location, { redirect: 'manual' })).text());
      const page = await browser.postLaunch(form.action, form.fields.id_token!, form.fields.state!);
      return { ...login, status: page.status, body: page.html };
    },
    keySet: () => get('/lti/keys', { accept: 'application/json' }),
  };

  const expectUnavailablePage = (a: Answer, lang: 'en' | 'ja') => {
    expect({ status: a.status, retryAfter: a.retryAfter, type: a.type.split(';')[0] }).toEqual({ status: 503, retryAfter: String(DATABASE_RETRY_AFTER_S), type: 'text/html' });
    expect(pageLanguage(a.body)).toBe(lang);
    expect(testId(a.body, 'error-title')).toBe(TITLE[lang]);
    expect(a.body).not.toMatch(/ at .*\.(js|ts):\d+/);
  };
  const expectUnavailableJson = (a: Answer, lang: 'en' | 'ja') => {
    expect({ status: a.status, retryAfter: a.retryAfter }).toEqual({ status: 503, retryAfter: String(DATABASE_RETRY_AFTER_S) });
    expect(JSON.parse(a.body)).toEqual({ error: 'database_unavailable', message: MESSAGE[lang] });
  };

  beforeAll(async () => {
    target = await createTestDatabase(kind);
    proxied = await proxiedDatabase(target);
    // Syncs run when the test sweeps, not on a clock.
    tool = await startTestTool({ ...proxied.env, COURSE_SYNC_CRON: 'off' });
    lms = await connectLms(tool, { flavor: 'moodle' });
    const { course, credentialId } = await defineQuizCredential(tool, 30);
    courseRef = course.contextRef;

    const learner = new LtiBrowser('ja');
    const learnerLaunch = await learner.launch(lms.emu, launchOf(LEARNERS[1]!.id));
    learnerLtik = learnerLaunch.ltik!;
    const claimed = await learner.fetch(`${tool.url}/api/v1/credentials/${credentialId}/claim`, { method: 'POST', bearer: learnerLtik, json: {} });
    if (claimed.status !== 201) throw new Error(`claim answered ${claimed.status}`);
    const issued = (await claimed.json()) as { id: string; credential: unknown };
    issuedId = issued.id;
    signedCredential = JSON.stringify(issued.credential);
    teacherLtik = (await new LtiBrowser('en').launch(lms.emu, launchOf(TEACHER.id))).ltik!;
  });
  afterAll(async () => {
    await lms.emu.stop();
    await tool.stop();
    await proxied.dispose();
    await target.dispose();
  });

  test('with the database refusing connections, pages, the API, verification, launches and readiness answer 503 with Retry-After; liveness stays up', async () => {
    // A launch whose login passed before the cut posts its id_token after it.
    const halfway = new LtiBrowser('en');
    const login = await halfway.startLogin(lms.emu, launchOf(LEARNERS[3]!.id));
    const idTokenForm = parseAutoPostForm(await (await fetch(login.authUrl!, { redirect: 'manual' })).text());
    // A background sync waits on a slow LMS when the database goes away under it.
    lms.emu.faults.set({ kind: 'slow', delayMs: 1_500, times: 1 });
    lms.emu.requests.length = 0;
    await tool.app.scheduler.sweepNow();
    await until(async () => lms.emu.requests.length > 0);
    const logsBefore = tool.logs.lines.length;

    await proxied.proxy.cut();

    const answers = {
      learnerPage: await requests.learnerPage(),
      teacherPage: await requests.teacherPage(),
      api: await requests.api(),
      verify: await requests.verify(),
      launch: await requests.launch(),
      idTokenPost: await answer(halfway.fetch(idTokenForm.action, { form: { id_token: idTokenForm.fields.id_token!, state: idTokenForm.fields.state! } })),
      keySet: await requests.keySet(),
      // ltijs' session check reads the database again in its own catch block when a body names a state.
      stateWithoutSession: await answer(fetch(`${tool.url}/app/issued/${issuedId}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body: 'state=abc', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })),
    };
    expectUnavailablePage(answers.learnerPage, 'ja');
    // The LMS may still frame the page that says so: its origin comes from the last known list.
    expect(answers.learnerPage.csp).toContain(`frame-ancestors 'self' ${lms.emu.url}`);
    expectUnavailablePage(answers.teacherPage, 'en');
    expectUnavailableJson(answers.api, 'ja');
    expectUnavailableJson(answers.verify, 'en');
    expectUnavailablePage(answers.launch, 'ja');
    expectUnavailablePage(answers.idTokenPost, 'en');
    expect({ status: answers.keySet.status, retryAfter: answers.keySet.retryAfter }).toEqual({ status: 503, retryAfter: String(DATABASE_RETRY_AFTER_S) });
    expectUnavailableJson(answers.stateWithoutSession, 'en');

    const ready = await get('/readyz');
    expect({ status: ready.status, retryAfter: ready.retryAfter, body: JSON.parse(ready.body) }).toEqual({ status: 503, retryAfter: String(DATABASE_RETRY_AFTER_S), body: { status: 'unavailable', database: kind === 'pglite' ? 'embedded' : 'server' } });
    const health = await get('/healthz');
    expect({ status: health.status, body: JSON.parse(health.body) }).toEqual({ status: 200, body: { status: 'ok' } });
    expect(tool.server.listening).toBe(true);

    // The interrupted sync fails without taking the process with it; its outcome waits for the database.
    await until(async () => tool.logs.records().some((r) => r.msg === 'job outcome not recorded yet; trying again'), 20_000);

    // One warning per request, naming no secret; nothing logged as an error.
    const logged = tool.logs.records().slice(logsBefore);
    const warnings = logged.filter((r) => r.msg === 'database unavailable; answered 503');
    for (const a of Object.values(answers)) expect(warnings.filter((w) => w.reqId === a.requestId)).toHaveLength(1);
    expect(logged.filter((r) => (r.level as number) >= 50)).toEqual([]);
    expect(tool.logs.text()).not.toMatch(/eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/);
    expect(tool.logs.text()).not.toContain(tool.config.ltiEncryptionKey);
    const slowest = Math.max(...Object.values(answers).map((a) => a.ms));
    console.info(`${kind}: with connections refused, the slowest of ${Object.keys(answers).length} requests answered 503 in ${slowest} ms`);
  });

  test('with the database accepting connections but never answering, requests fail within the connect timeout', async () => {
    await proxied.proxy.hang();
    const started = Date.now();
    const [learnerPage, api, verify, ready, health] = await Promise.all([requests.learnerPage(), requests.api(), requests.verify(), get('/readyz'), get('/healthz')]);
    expectUnavailablePage(learnerPage, 'ja');
    expectUnavailableJson(api, 'ja');
    expectUnavailableJson(verify, 'en');
    expect(ready.status).toBe(503);
    expect(health.status).toBe(200);
    expect(health.ms).toBeLessThan(1_000);
    const slowest = Math.max(learnerPage.ms, api.ms, verify.ms);
    expect(slowest).toBeLessThan(DATABASE_CONNECT_TIMEOUT_MS + 5_000);
    console.info(`${kind}: with the database hanging, requests answered 503 after ${learnerPage.ms}/${api.ms}/${verify.ms} ms (page/API/verify), readyz after ${ready.ms} ms, healthz after ${health.ms} ms; ${Date.now() - started} ms in all`);
  });

  test('once the database is back, the same process serves every request again and runs background syncs', async () => {
    const acceptedBefore = proxied.proxy.accepted;
    const restored = Date.now();
    await proxied.proxy.restore();
    await until(async () => (await get('/readyz')).status === 200, 30_000);
    const readyAfterMs = Date.now() - restored;

    const learnerPage = await requests.learnerPage();
    expect(learnerPage.status).toBe(200);
    expect(pageLanguage(learnerPage.body)).toBe('ja');
    const teacherPage = await requests.teacherPage();
    expect(teacherPage.status).toBe(200);
    const api = await requests.api();
    expect(api.status).toBe(200);
    expect((JSON.parse(api.body) as { issued: Array<{ id: string }> }).issued.map((i) => i.id)).toEqual([issuedId]);
    const verify = await requests.verify();
    expect(verify.status).toBe(200);
    expect((JSON.parse(verify.body) as { verdict: string }).verdict).toBe('valid');
    expect((await requests.launch()).status).toBe(200);
    const keySet = await requests.keySet();
    expect(keySet.status).toBe(200);
    expect((JSON.parse(keySet.body) as { keys: unknown[] }).keys.length).toBeGreaterThan(0);
    expect(proxied.proxy.accepted).toBeGreaterThan(acceptedBefore);
    const servingAfterMs = Date.now() - restored;

    // The sync the outage interrupted is recorded as failed (pg-boss retries it with backoff) ...
    const interrupted = await until(async () => (await sql<{ state: string }>`select state from pgboss.job where name = 'course-sync' order by created_on limit 1`.execute(tool.database.db)).rows.find((r) => r.state !== 'active'));
    expect(interrupted.state).toBe('retry');
    // ... and a new sweep syncs the course.
    const swept = new Date();
    await tool.app.scheduler.sweepNow();
    await until(() => tool.database.db.selectFrom('course_sync').select('last_success_at').where('context_ref', '=', courseRef).where('last_success_at', '>', swept).executeTakeFirst());
    console.info(`${kind}: restored, readyz answered 200 after ${readyAfterMs} ms, every request was served again after ${servingAfterMs} ms, and a sweep synced the course after ${Date.now() - swept.getTime()} ms`);
  });
});
