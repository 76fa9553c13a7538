import { SignJWT, decodeJwt } from 'jose';
import type { DefinitionInput } from '../../src/credentials/definition-schema.js';
import { connectLms, type ConnectedLms } from '../gradebook/connect-lms.js';
import { ADMIN, LEARNERS, RESOURCE_LINK, SAMPLE_COURSE, TEACHER } from '../fixtures/sample-course.js';
import { createTestDatabase, DATABASE_KINDS, type TestDatabase } from '../helpers/databases.js';
import { LtiBrowser } from '../helpers/lti-client.js';
import { startTestTool, type TestTool } from '../helpers/tool.js';

const SECRET_NAME = 'Isolation canary 9f3a: 統計の基礎';
const definition: DefinitionInput = {
  name: SECRET_NAME, description: 'Only course A may see this.', criteriaNarrative: 'Every quiz at 40% or more.',
  language: 'en', version: '1', learningOutcomes: ['Compute descriptive statistics'], workloadHours: 5, eqfLevel: 4,
  assessmentTypes: ['test'], participation: 'online', qualityAssurance: 'Internal review', awardingBody: { name: 'Example University' }, awardingCountry: 'JP',
};
const COURSE_B = { id: 'B-ISOLATED', title: 'Course B', label: 'B' };

interface Route { method: string; path: string }

/** Every route ltijs' app holds under /app and /api/v1: the session routes, all of them. */
function sessionRoutes(tool: TestTool): Route[] {
  const stack = (tool.app.lti.app as unknown as { _router: { stack: Array<{ route?: { path: string | RegExp; methods: Record<string, boolean> } }> } })._router.stack;
  return stack.flatMap((layer) => {
    const path = layer.route?.path;
    if (typeof path !== 'string' || !/^\/(app|api\/v1)\//.test(path)) return [];
    return Object.keys(layer.route!.methods).filter((m) => m !== '_all').map((method) => ({ method: method.toUpperCase(), path }));
  });
}

/**
 * Isolation: every session route, called with course A's ids by someone who must not reach them:
 * a learner of course B, a teacher of course B, the "same" teacher and course on another platform
 * (same context id, same user id), and a tampered ltik. A leak is any success, or any answer that
 * names course A's credential. Course A's records must be as they were afterwards.
 */
describe.each(DATABASE_KINDS)('isolation across courses and platforms, on %s', (kind) => {
  let target: TestDatabase;
  let tool: TestTool;
  let lmsA: ConnectedLms;
  let lmsB: ConnectedLms;
  const ids: Record<string, string> = {};

  const launch = async (lms: ConnectedLms, userId: string, courseId = SAMPLE_COURSE.id, resourceLinkId = RESOURCE_LINK.id) => {
    const page = await new LtiBrowser().launch(lms.emu, { userId, courseId, resourceLinkId, clientId: lms.clientId });
    expect(page.status).toBe(200);
    return page.ltik!;
  };
  const api = (ltik: string, method: string, path: string, json?: unknown) => new LtiBrowser().fetch(`${tool.url}${path}`, { method, bearer: ltik, ...(json === undefined ? {} : { json }) });

  beforeAll(async () => {
    target = await createTestDatabase(kind);
    tool = await startTestTool(target.env);
    lmsA = await connectLms(tool, { flavor: 'moodle' });
    lmsB = await connectLms(tool, { flavor: 'canvas' });
    lmsA.emu.addCourse(COURSE_B);
    lmsA.emu.enrol(COURSE_B.id, TEACHER.id, ['Instructor']);
    lmsA.emu.enrol(COURSE_B.id, LEARNERS[0]!.id, ['Learner']);
    lmsA.emu.addResourceLink(COURSE_B.id, { id: 'rl-b', title: 'Micro-credentials', toolClientId: lmsA.clientId });

    const teacher = await launch(lmsA, TEACHER.id);
    const created = await api(teacher, 'POST', '/api/v1/credentials', { definition, criteria: { type: 'score', select: { tag: 'quiz' }, minPercent: 40 } });
    expect(created.status).toBe(201);
    ids.id = ((await created.json()) as { id: string }).id;
    expect((await api(teacher, 'POST', '/api/v1/course/sync')).status).toBe(200);
    const awarded = await tool.database.db.selectFrom('award').select('user_id').where('credential_id', '=', ids.id!).execute();
    ids.userId = awarded[0]!.user_id;
    const holder = await launch(lmsA, ids.userId);
    const claimed = await api(holder, 'POST', `/api/v1/credentials/${ids.id}/claim`);
    expect(claimed.status).toBe(201);
    ids.issuedId = ((await claimed.json()) as { id: string }).id;
    ids.format = 'credential.json';
  });
  afterAll(async () => {
    await lmsA.emu.stop();
    await lmsB.emu.stop();
    await tool.stop();
    await target.dispose();
  });

  /** What course A holds; nothing in the matrix may change it. */
  const snapshotOfA = async () => ({
    revisions: await tool.database.db.selectFrom('credential_revision').select(['revision', 'definition']).where('credential_id', '=', ids.id!).execute(),
    awards: await tool.database.db.selectFrom('award').select(['user_id', 'revoked_at']).where('credential_id', '=', ids.id!).orderBy('user_id').execute(),
    issued: await tool.database.db.selectFrom('issued_credential').select(['id', 'revoked_at', 'share_enabled']).where('credential_id', '=', ids.id!).execute(),
    approvals: await tool.database.db.selectFrom('staff_approval').select('user_id').where('credential_id', '=', ids.id!).execute(),
  });

  /** A body each state-changing route accepts, so that only the ids decide the answer. */
  const bodyFor = (route: Route): { json?: unknown; form?: Array<[string, string]> } => {
    if (route.path.startsWith('/api/v1/')) {
      if (route.path.endsWith('/awards')) return { json: { userIds: [ids.userId], note: 'isolation test' } };
      if (route.path.endsWith('/revocations')) return { json: { userIds: [ids.userId], reason: 'isolation test' } };
      if (route.path.endsWith('/approvals')) return { json: { userId: ids.userId, note: 'isolation test' } };
      if (route.path.endsWith('/share')) return { json: { enabled: false } };
      if (route.path.endsWith('/copy')) return { json: { fromCourse: SAMPLE_COURSE.id, credentialId: ids.id } };
      if (route.method === 'PUT' || route.path === '/api/v1/credentials') return { json: { definition: { ...definition, name: 'Overwritten' }, criteria: { type: 'staffApproval' } } };
      return { json: {} };
    }
    return { form: [['userIds[]', ids.userId!], ['reason', 'isolation test'], ['enabled', 'false'], ['name', 'Overwritten'], ['target', ids.id!]] };
  };

  const pathFor = (route: Route) => route.path.replace(/:(\w+)(\([^)]*\))?/g, (_, name: string) => encodeURIComponent(ids[name] ?? name));

  test('no session route leaks course A to course B, to another platform, or to a tampered ltik', async () => {
    const routes = sessionRoutes(tool);
    expect(routes.length).toBeGreaterThan(30);
    const teacherA = await launch(lmsA, TEACHER.id);
    const claims = decodeJwt(teacherA);
    const tampered = await new SignJWT({ ...claims, user: ids.userId }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode('x'.repeat(64)));
    const callers = {
      'learner of course B': await launch(lmsA, LEARNERS[0]!.id, COURSE_B.id, 'rl-b'),
      'teacher of course B': await launch(lmsA, TEACHER.id, COURSE_B.id, 'rl-b'),
      'teacher of the same course id on another platform': await launch(lmsB, TEACHER.id),
      'administrator of another platform': await launch(lmsB, ADMIN.id),
      'a tampered ltik': tampered,
    };
    const before = await snapshotOfA();
    const leaks: string[] = [];
    for (const [who, ltik] of Object.entries(callers)) {
      for (const route of routes) {
        // Copying between courses of one platform is a feature, for staff who know the credential's id.
        if (who === 'teacher of course B' && route.path === '/api/v1/credentials/copy') continue;
        const body = bodyFor(route);
        const url = `${tool.url}${pathFor(route)}`;
        const browser = new LtiBrowser();
        const res = route.method === 'GET'
          ? await browser.fetch(`${url}${url.includes('?') ? '&' : '?'}ltik=${encodeURIComponent(ltik)}`, { headers: { accept: 'application/json' } })
          : body.json !== undefined
            ? await browser.fetch(url, { method: route.method, bearer: ltik, json: body.json })
            : await browser.fetch(url, { method: route.method, form: [['ltik', ltik], ...body.form!] });
        const text = await res.text();
        // A route that names no id acts on the caller's own course: success is fine, naming course A is not.
        const namesAnId = route.path.includes(':');
        if ((namesAnId && res.status < 400) || text.includes(SECRET_NAME) || text.includes(ids.issuedId!)) {
          leaks.push(`${who}: ${route.method} ${route.path} answered ${res.status}${text.includes(SECRET_NAME) ? ' naming the credential' : ''}`);
        }
        if (who === 'a tampered ltik') expect({ route: `${route.method} ${route.path}`, status: res.status }).toEqual({ route: `${route.method} ${route.path}`, status: 401 });
      }
    }
    expect(leaks).toEqual([]);
    expect(await snapshotOfA()).toEqual(before);
  });

  test('lists that take no id show each caller their own course only', async () => {
    for (const ltik of [await launch(lmsA, TEACHER.id, COURSE_B.id, 'rl-b'), await launch(lmsB, TEACHER.id)]) {
      for (const path of ['/api/v1/credentials', '/api/v1/progress', '/api/v1/issued']) {
        const res = await api(ltik, 'GET', path);
        expect(res.status).toBe(200);
        const text = await res.text();
        expect({ path, leaked: text.includes(SECRET_NAME) || text.includes(ids.id!) }).toEqual({ path, leaked: false });
      }
    }
  });
});
