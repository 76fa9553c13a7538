import type { DefinitionInput } from '../../src/credentials/definition-schema.js';
import { LEARNERS, RESOURCE_LINK, SAMPLE_COURSE, TEACHER } from '../fixtures/sample-course.js';
import { connectLms, type ConnectedLms } from '../gradebook/connect-lms.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { LtiBrowser } from '../helpers/lti-client.js';
import { startTestTool, type TestTool } from '../helpers/tool.js';

const definition: DefinitionInput = {
  name: '小テスト修了 / Quizzes passed', description: '全小テストで60%以上。', criteriaNarrative: 'Every quiz at 60% or more.',
  language: 'ja', version: '1.0', learningOutcomes: ['記述統計を計算できる'], workloadHours: 10, eqfLevel: 4,
  assessmentTypes: ['test'], participation: 'online', qualityAssurance: 'Internal review', awardingBody: { name: 'Example University' }, awardingCountry: 'JP',
};

describe('the credentials API', () => {
  let target: TestDatabase;
  let tool: TestTool;
  let lms: ConnectedLms;
  let teacher: LtiBrowser;
  let teacherLtik: string;

  const session = async (userId: string, courseId = SAMPLE_COURSE.id, lang = 'en') => {
    const browser = new LtiBrowser(lang);
    const page = await browser.launch(lms.emu, { userId, courseId, resourceLinkId: courseId === SAMPLE_COURSE.id ? RESOURCE_LINK.id : 'rl-2', clientId: lms.clientId });
    expect(page.status).toBe(200);
    return { browser, ltik: page.ltik! };
  };
  const call = async (who: { browser: LtiBrowser; ltik: string }, method: string, path: string, json?: unknown) => {
    const res = await who.browser.fetch(`${tool.url}${path}`, { method, bearer: who.ltik, ...(json === undefined ? {} : { json }) });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };

  beforeAll(async () => {
    target = await createTestDatabase('pglite');
    tool = await startTestTool(target.env);
    lms = await connectLms(tool, { flavor: 'moodle' });
    ({ browser: teacher, ltik: teacherLtik } = await session(TEACHER.id));
  });
  afterAll(async () => {
    await lms.emu.stop();
    await tool.stop();
    await target.dispose();
  });

  test('staff create a credential against the course\'s real gradebook columns', async () => {
    const created = await call({ browser: teacher, ltik: teacherLtik }, 'POST', '/api/v1/credentials', { definition, criteria: { type: 'score', select: { tag: 'quiz' }, minPercent: 60 } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: expect.any(String), revision: 1, definition: { name: definition.name, tags: [], autoIssue: false } });
    const listed = await call({ browser: teacher, ltik: teacherLtik }, 'GET', '/api/v1/credentials');
    expect(listed.body.credentials).toHaveLength(1);
  });

  test('bad input gets 400 with each JSON path, in the user\'s language, and nothing is saved', async () => {
    const ja = await session(TEACHER.id, SAMPLE_COURSE.id, 'ja');
    const bad = await call(ja, 'POST', '/api/v1/credentials', {
      definition: { ...definition, workloadHours: -1, extra: true },
      criteria: { type: 'allOf', children: [{ type: 'score', select: { labelPattern: 'no such column' }, minPercent: 50 }] },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe('invalid');
    expect(bad.body.message).toBe('リクエストに誤りがあります。各項目の errors を確認してください。');
    expect(bad.body.errors.map((e: { path: string }) => e.path)).toEqual(expect.arrayContaining(['/definition/workloadHours', '/definition/extra']));
    const missingColumn = await call(ja, 'POST', '/api/v1/credentials', { definition, criteria: { type: 'allOf', children: [{ type: 'score', select: { labelPattern: 'no such column' }, minPercent: 50 }] } });
    expect(missingColumn.status).toBe(400);
    expect(missingColumn.body.errors).toEqual([expect.objectContaining({ path: '/criteria/children/0/select' })]);
    const truncated = await teacher.fetch(`${tool.url}/api/v1/credentials`, { bearer: teacherLtik, rawJson: '{"definition": {"name": "cut off' });
    expect(truncated.status).toBe(400);
    expect(await truncated.json()).toMatchObject({ error: 'bad_body', message: 'The data sent is not in the expected format.' });
    expect((await call({ browser: teacher, ltik: teacherLtik }, 'GET', '/api/v1/credentials')).body.credentials).toHaveLength(1);
  });

  test('a learner calling a staff endpoint gets 403', async () => {
    const learner = await session(LEARNERS[2]!.id);
    expect((await call(learner, 'POST', '/api/v1/credentials', { definition, criteria: { type: 'staffApproval' } })).status).toBe(403);
    expect((await call(learner, 'POST', '/api/v1/course/sync')).status).toBe(403);
  });

  test('an id from another course is not found', async () => {
    lms.emu.addCourse({ id: 'DS102', title: '統計学', label: 'DS102' });
    lms.emu.enrol('DS102', TEACHER.id, ['Instructor']);
    lms.emu.addResourceLink('DS102', { id: 'rl-2', title: 'Micro-credentials', toolClientId: lms.clientId });
    lms.emu.addLineItem('DS102', { label: '小テスト', scoreMaximum: 10, tag: 'quiz', toolClientId: lms.clientId });
    const other = await session(TEACHER.id, 'DS102');
    const theirs = await call(other, 'POST', '/api/v1/credentials', { definition, criteria: { type: 'score', select: { tag: 'quiz' }, minPercent: 50 } });
    expect(theirs.status).toBe(201);
    expect((await call({ browser: teacher, ltik: teacherLtik }, 'GET', `/api/v1/credentials/${theirs.body.id}`)).status).toBe(404);
    expect((await call({ browser: teacher, ltik: teacherLtik }, 'PUT', `/api/v1/credentials/${theirs.body.id}`, { definition, criteria: { type: 'staffApproval' } })).status).toBe(404);
    expect((await call({ browser: teacher, ltik: teacherLtik }, 'GET', '/api/v1/credentials/not-a-uuid')).status).toBe(404);
    // Copying from a course of the same platform is allowed, into the caller's course.
    const copied = await call({ browser: teacher, ltik: teacherLtik }, 'POST', '/api/v1/credentials/copy', { fromCourse: 'DS102', credentialId: theirs.body.id });
    expect(copied.status).toBe(201);
    expect(copied.body.copiedFrom).toBe(theirs.body.id);
  });

  test('staff sync the course on demand; learners see their own progress, staff everyone\'s', async () => {
    const synced = await call({ browser: teacher, ltik: teacherLtik }, 'POST', '/api/v1/course/sync');
    expect(synced.status).toBe(200);
    expect(synced.body).toMatchObject({ learners: LEARNERS.length, newAwards: expect.any(Number), lmsRequests: expect.any(Number) });
    const learner = await session(LEARNERS[5]!.id);
    const own = await call(learner, 'GET', '/api/v1/progress');
    expect(own.body.progress.length).toBeGreaterThan(0);
    expect(own.body.progress.every((p: { userId: string }) => p.userId === LEARNERS[5]!.id)).toBe(true);
    // A learner's own entries carry the explanation, rebuilt from the recorded evidence.
    expect(own.body.progress[0]).toMatchObject({ qualified: expect.any(Boolean), progress: expect.any(Number), evaluation: { progress: { id: 'root' } } });
    expect(own.body.progress[0].evaluation.qualified).toBe(own.body.progress[0].qualified);
    expect(own.body.progress[0].evaluation.progress.progress).toBe(own.body.progress[0].progress);
    expect((await call(learner, 'GET', `/api/v1/progress?userId=${encodeURIComponent(LEARNERS[6]!.id)}`)).status).toBe(403);
    const all = await call({ browser: teacher, ltik: teacherLtik }, 'GET', '/api/v1/progress');
    expect(new Set(all.body.progress.map((p: { userId: string }) => p.userId)).size).toBe(LEARNERS.length);
    expect(all.body.progress.every((p: { evaluation?: unknown; progress: number }) => p.evaluation === undefined && p.progress >= 0 && p.progress <= 1)).toBe(true);
    const one = await call({ browser: teacher, ltik: teacherLtik }, 'GET', `/api/v1/progress?userId=${encodeURIComponent(LEARNERS[5]!.id)}`);
    expect(one.body.progress).toEqual(own.body.progress);
    const unknownField = await call({ browser: teacher, ltik: teacherLtik }, 'GET', '/api/v1/progress?user=x');
    expect(unknownField.status).toBe(400);
    expect(unknownField.body.errors).toEqual([{ path: '/user', message: 'unknown field' }]);
  });

  test('a staff approval step is granted through the API', async () => {
    const created = await call({ browser: teacher, ltik: teacherLtik }, 'POST', '/api/v1/credentials', { definition: { ...definition, name: 'Interview' }, criteria: { type: 'staffApproval' } });
    expect((await call({ browser: teacher, ltik: teacherLtik }, 'POST', `/api/v1/credentials/${created.body.id}/approvals`, { userId: LEARNERS[7]!.id, note: '面接合格' })).status).toBe(201);
    expect((await call({ browser: teacher, ltik: teacherLtik }, 'POST', `/api/v1/credentials/${created.body.id}/approvals`, { user: 'x' })).status).toBe(400);
    await call({ browser: teacher, ltik: teacherLtik }, 'POST', '/api/v1/course/sync');
    const awards = await tool.database.db.selectFrom('award').select('user_id').where('credential_id', '=', created.body.id).execute();
    expect(awards).toEqual([{ user_id: LEARNERS[7]!.id }]);
  });

  test('when the LMS is down, an on-demand sync answers 503 with the next attempt', async () => {
    lms.emu.faults.set({ kind: 'server-error', pathPrefix: '/mod/lti/services.php' });
    try {
      const res = await call({ browser: teacher, ltik: teacherLtik }, 'POST', '/api/v1/course/sync');
      expect(res.status).toBe(503);
      expect(res.body).toMatchObject({ error: 'lms_unreachable', nextAttemptAt: expect.any(String) });
    } finally {
      lms.emu.faults.clear();
    }
  });
});
