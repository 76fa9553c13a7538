import { sql } from 'kysely';
import { explainDecisions, latestDecisions } from '../../src/credentials/explanations.js';
import type { CourseRef } from '../../src/credentials/definitions.js';
import type { DefinitionInput } from '../../src/credentials/definition-schema.js';
import type { GradebookLineItem } from '../../src/gradebook/types.js';
import { AwardingService } from '../../src/credentials/awarding.js';
import { GradebookClient, GradebookClients } from '../../src/gradebook/client.js';
import { createLogger } from '../../src/logger.js';
import { ACTIVITIES, LEARNERS, RESOURCE_LINK, SAMPLE_COURSE } from '../fixtures/sample-course.js';
import { connectLms, type ConnectedLms } from '../gradebook/connect-lms.js';
import { createTestDatabase, DATABASE_KINDS, type TestDatabase } from '../helpers/databases.js';
import { LtiBrowser } from '../helpers/lti-client.js';
import { startTestTool, type TestTool } from '../helpers/tool.js';

const definition = (name: string, extra: Partial<DefinitionInput> = {}): DefinitionInput => ({
  name,
  description: 'データサイエンス入門の修了を証明します。',
  criteriaNarrative: 'All quizzes at 60% or more.',
  language: 'ja',
  version: '2026',
  learningOutcomes: ['データの種類を説明できる'],
  workloadHours: 30,
  ectsCredits: 1,
  eqfLevel: 5,
  assessmentTypes: ['test', 'assignment'],
  participation: 'online',
  qualityAssurance: 'Reviewed by the faculty curriculum committee',
  awardingBody: { name: 'Example University', url: 'https://www.example.ac.jp' },
  awardingCountry: 'JP',
  ...extra,
});

describe.each(DATABASE_KINDS)('awarding from the real gradebook on %s', (kind) => {
  let target: TestDatabase;
  let tool: TestTool;
  let lms: ConnectedLms;
  let course: CourseRef;
  let lineItems: GradebookLineItem[];
  const item = (tag: string) => lineItems.find((li) => li.tag === tag)!;
  /** The platform's own numbers, read straight from the emulator: the expected side of every check. */
  const percent = (tag: string, userId: string) => {
    const li = lms.emu.lineItems(SAMPLE_COURSE.id).filter((l) => l.tag === tag);
    return li.map((l) => {
      const s = lms.emu.getScore(SAMPLE_COURSE.id, l.id, userId);
      return s?.scoreGiven == null ? -1 : (s.scoreGiven * 100) / s.scoreMaximum;
    });
  };
  const qualifiedIn = async (credentialId: string) => new Set((await tool.database.db.selectFrom('award').select('user_id').where('credential_id', '=', credentialId).execute()).map((a) => a.user_id));
  const create = async (name: string, criteria: unknown, extra: Partial<DefinitionInput> = {}) => {
    const saved = await tool.app.definitions.create(course, { definition: definition(name, extra), criteria }, lineItems, 'teacher');
    if (!saved.ok) throw new Error(JSON.stringify(saved.errors));
    return saved.credential.id;
  };

  beforeAll(async () => {
    target = await createTestDatabase(kind);
    tool = await startTestTool(target.env);
    lms = await connectLms(tool, { flavor: 'moodle' });
    const ctx = await tool.database.db.selectFrom('lti_context').select(['id', 'issuer', 'client_id']).executeTakeFirstOrThrow();
    course = { contextRef: ctx.id, issuer: ctx.issuer, clientId: ctx.client_id };
    lineItems = await new GradebookClients(tool.app.lti).forPlatform(ctx.issuer, ctx.client_id).listLineItems(lms.lineItemsUrl);
    expect(lineItems).toHaveLength(ACTIVITIES.length);
  });
  afterAll(async () => {
    await lms.emu.stop();
    await tool.stop();
    await target.dispose();
  });

  test('bad definitions get every error with its JSON path, and nothing is saved', async () => {
    const saved = await tool.app.definitions.create(course, {
      definition: { ...definition('Broken'), eqfLevel: 9, colour: 'blue' },
      criteria: { type: 'atLeast', n: 3, children: [
        { type: 'score', select: { tag: 'quiz' }, minPercent: 120 },
        { type: 'score', select: { tag: 'quiz' }, minPercent: 50 },
      ] },
    }, lineItems, 'teacher');
    expect(saved.ok).toBe(false);
    const paths = saved.ok ? [] : saved.errors.map((e) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['/definition/eqfLevel', '/definition/colour', '/criteria/children/0/minPercent']));
    expect(paths.some((p) => p === '/criteria' || p === '/criteria/n')).toBe(true);

    const missing = await tool.app.definitions.create(course, {
      definition: definition('Missing column'),
      criteria: { type: 'score', select: { lineItemId: `${lms.emu.url}/no/such/lineitem` }, minPercent: 50 },
    }, lineItems, 'teacher');
    expect(missing).toEqual({ ok: false, errors: [expect.objectContaining({ path: '/criteria/select', message: expect.stringMatching(/missing line item/) })] });
    expect(await tool.app.definitions.list(course)).toEqual([]);
  });

  test('every rule type is judged from the gradebook read over AGS and NRPS', async () => {
    const quizzes = await create('Quizzes ≥ 60%', { type: 'score', select: { tag: 'quiz' }, minPercent: 60 });
    const essay = await create('Essay ≥ 70 points', { type: 'score', select: { lineItemId: item('essay').id }, minPoints: 70 });
    const lab = await create('Python lab completed', { type: 'completion', select: { labelPattern: 'python' }, require: 'completed' });
    const early = await create('Quiz 1 before 2026-10-01T09:00:15Z', { type: 'score', select: { labelPattern: '第1回' }, minPercent: 0, window: { to: '2026-10-01T09:00:15Z' } });
    const composite = await create('Composite', { type: 'allOf', children: [
      { type: 'anyOf', children: [{ type: 'score', select: { tag: 'essay' }, minPercent: 70 }, { type: 'score', select: { tag: 'exam' }, minPercent: 80 }] },
      { type: 'atLeast', n: 2, children: [
        { type: 'score', select: { tag: 'quiz' }, minPercent: 50 },
        { type: 'score', select: { tag: 'lab' }, minPercent: 50 },
        { type: 'score', select: { tag: 'exam' }, minPercent: 50 },
      ] },
    ] });
    const weighted = await create('Weighted ≥ 65%', { type: 'weightedAverage', items: [{ select: { tag: 'quiz' }, weight: 1 }, { select: { tag: 'exam' }, weight: 3 }], minPercent: 65 });
    const total = await create('Total ≥ 150 points', { type: 'totalPoints', select: { labelPattern: '/Essay|Final/' }, minPoints: 150 });
    const advanced = await create('Advanced (needs quizzes)', { type: 'allOf', children: [{ type: 'prerequisite', credentialId: quizzes }, { type: 'score', select: { tag: 'exam' }, minPercent: 60 }] });
    const approved = await create('Approved by staff', { type: 'staffApproval' });
    const approvedLearner = LEARNERS[3]!.id;
    await tool.database.db.insertInto('staff_approval').values({ credential_id: approved, user_id: approvedLearner, approved_by: 'teacher' }).execute();

    const outcome = await tool.app.awarding.syncCourse(course.contextRef, 'course_sync');
    expect(outcome.ok).toBe(true);
    if (!outcome.ok) return;
    expect(outcome.learners).toBe(LEARNERS.length);
    expect(outcome.standings).toEqual([]);

    const expectSet = async (credentialId: string, rule: (userId: string) => boolean) => {
      const expected = new Set(LEARNERS.map((l) => l.id).filter(rule));
      expect(await qualifiedIn(credentialId)).toEqual(expected);
      return expected;
    };
    const pct = (tag: string, u: string) => percent(tag, u);
    const quizOk = await expectSet(quizzes, (u) => pct('quiz', u).every((p) => p >= 60));
    await expectSet(essay, (u) => { const s = lms.emu.getScore(SAMPLE_COURSE.id, item('essay').id, u); return (s?.scoreGiven ?? -1) >= 70; });
    await expectSet(lab, (u) => lms.emu.getScore(SAMPLE_COURSE.id, item('lab').id, u)?.activityProgress === 'Completed');
    await expectSet(early, (u) => (lms.emu.getScore(SAMPLE_COURSE.id, lineItems.find((l) => l.label.startsWith('第1回'))!.id, u)?.timestamp ?? '9') <= '2026-10-01T09:00:15.000Z');
    await expectSet(composite, (u) => (pct('essay', u)[0]! >= 70 || pct('exam', u)[0]! >= 80)
      && [pct('quiz', u).every((p) => p >= 50), pct('lab', u)[0]! >= 50, pct('exam', u)[0]! >= 50].filter(Boolean).length >= 2);
    await expectSet(weighted, (u) => {
      const parts = [...pct('quiz', u).map((p) => [Math.max(p, 0), 1]), ...pct('exam', u).map((p) => [Math.max(p, 0), 3])];
      return parts.reduce((a, [p, w]) => a + p! * w!, 0) / parts.reduce((a, [, w]) => a + w!, 0) >= 65;
    });
    await expectSet(total, (u) => ['essay', 'exam'].reduce((sum, tag) => sum + Math.max(0, lms.emu.getScore(SAMPLE_COURSE.id, item(tag).id, u)?.scoreGiven ?? 0), 0) >= 150);
    // The prerequisite earned in this same run counts.
    await expectSet(advanced, (u) => quizOk.has(u) && pct('exam', u)[0]! >= 60);
    await expectSet(approved, (u) => u === approvedLearner);
    for (const id of [quizzes, composite]) expect((await qualifiedIn(id)).size).toBeGreaterThan(0);

    // Decisions carry their evidence; an identical second run records nothing new.
    const decision = await tool.database.db.selectFrom('award_decision').selectAll().where('credential_id', '=', quizzes).limit(1).executeTakeFirstOrThrow();
    expect(decision.evidence).toMatchObject({ fetchedAt: expect.any(String), heldCredentials: [], staffApprovals: [] });
    const { results } = await tool.database.db.selectFrom('learner_results').select('results')
      .where('context_ref', '=', course.contextRef).where('results_hash', '=', decision.results_hash).executeTakeFirstOrThrow();
    expect(results.length).toBeGreaterThan(0);
    expect(results.every((r) => typeof r.lineItemId === 'string')).toBe(true);
    // The explanation rebuilt from each recorded decision's evidence gives the verdict recorded with it.
    const recorded = await latestDecisions(tool.database.db, [quizzes, composite, weighted, advanced]);
    const explained = await explainDecisions(tool.database.db, course.contextRef, recorded);
    expect(explained.map((e) => [e.qualified, e.progress.progress])).toEqual(recorded.map((d) => [d.qualified, d.progress]));
    const count = async () => (await sql<{ n: number }>`select count(*)::int as n from award_decision`.execute(tool.database.db)).rows[0]!.n;
    const before = await count();
    expect((await tool.app.awarding.syncCourse(course.contextRef, 'scheduled')).ok).toBe(true);
    expect(await count()).toBe(before);
  });

  test('a learner who improves is awarded at their next launch, which reads only their results', async () => {
    const credentialId = (await tool.app.definitions.list(course)).find((c) => c.definition.name === 'Essay ≥ 70 points')!.id;
    const notYet = LEARNERS.find((l) => (lms.emu.getScore(SAMPLE_COURSE.id, item('essay').id, l.id)?.scoreGiven ?? 0) < 70)!;
    expect((await qualifiedIn(credentialId)).has(notYet.id)).toBe(false);
    lms.emu.setScore(SAMPLE_COURSE.id, item('essay').id, notYet.id, { scoreGiven: 95, scoreMaximum: 100, activityProgress: 'Completed', gradingProgress: 'FullyGraded', timestamp: new Date().toISOString() });
    const requestsBefore = lms.emu.requests.length;
    const page = await new LtiBrowser('en').launch(lms.emu, { userId: notYet.id, courseId: SAMPLE_COURSE.id, resourceLinkId: RESOURCE_LINK.id, clientId: lms.clientId });
    expect(page.status).toBe(200);
    expect((await qualifiedIn(credentialId)).has(notYet.id)).toBe(true);
    expect(page.html).toContain('data-testid="learner-credentials"');
    const resultReads = lms.emu.requests.slice(requestsBefore).filter((r) => r.path.endsWith('/results'));
    expect(resultReads).toHaveLength(ACTIVITIES.length);
    expect(resultReads.every((r) => r.query.user_id === notYet.id)).toBe(true);
  });

  test('when the LMS fails, nothing is decided and the pages say when the tool retries', async () => {
    const decisions = async () => (await sql<{ n: number }>`select count(*)::int as n from award_decision`.execute(tool.database.db)).rows[0]!.n;
    const before = await decisions();
    lms.emu.setScore(SAMPLE_COURSE.id, item('essay').id, LEARNERS[0]!.id, { scoreGiven: 100, scoreMaximum: 100, activityProgress: 'Completed', gradingProgress: 'FullyGraded', timestamp: new Date().toISOString() });
    lms.emu.faults.set({ kind: 'server-error', pathPrefix: new URL(item('exam').id).pathname });
    try {
      const outcome = await tool.app.awarding.syncCourse(course.contextRef, 'scheduled');
      expect(outcome).toEqual({ ok: false, error: 'unavailable', nextAttemptAt: expect.any(Date) });
      expect(await decisions()).toBe(before);
      const sync = await tool.database.db.selectFrom('course_sync').selectAll().where('context_ref', '=', course.contextRef).executeTakeFirstOrThrow();
      expect(sync.last_error).toMatch(/^unavailable/);
      expect(sync.next_attempt_at!.getTime()).toBeGreaterThan(Date.now());

      const learnerPage = await new LtiBrowser('en').launch(lms.emu, { userId: LEARNERS[0]!.id, courseId: SAMPLE_COURSE.id, resourceLinkId: RESOURCE_LINK.id, clientId: lms.clientId });
      expect(learnerPage.status).toBe(200);
      expect(learnerPage.html).toContain('data-testid="lms-unreachable"');
      expect(learnerPage.html).toMatch(/will try again at/);
      expect(await decisions()).toBe(before);
    } finally {
      lms.emu.faults.clear();
    }
  });

  test('awards are written back to the LMS gradebook when the definition asks for it', async () => {
    const id = await create('Written back', { type: 'score', select: { tag: 'quiz' }, minPercent: 40 }, { writeBackToGradebook: true });
    const outcome = await tool.app.awarding.syncCourse(course.contextRef, 'course_sync');
    expect(outcome.ok).toBe(true);
    const column = lms.emu.lineItems(SAMPLE_COURSE.id).find((l) => l.resourceId === id);
    expect(column).toMatchObject({ label: 'Micro-credential: Written back', scoreMaximum: 1, tag: 'microcredential' });
    const awarded = await qualifiedIn(id);
    expect(awarded.size).toBeGreaterThan(0);
    for (const userId of awarded) expect(lms.emu.getScore(SAMPLE_COURSE.id, column!.id, userId)).toMatchObject({ scoreGiven: 1, gradingProgress: 'FullyGraded' });
  });

  test('editing a credential with awards creates a revision; the awards keep theirs', async () => {
    const all = await tool.app.definitions.list(course);
    const withAwards = all.find((c) => c.definition.name === 'Quizzes ≥ 60%')!;
    const edited = await tool.app.definitions.update(course, withAwards.id, { definition: definition('Quizzes ≥ 65%'), criteria: { type: 'score', select: { tag: 'quiz' }, minPercent: 65 } }, lineItems, 'teacher');
    expect(edited).toMatchObject({ ok: true, credential: { revision: 2, definition: { name: 'Quizzes ≥ 65%' } } });
    const revisions = await tool.database.db.selectFrom('award').select('revision').distinct().where('credential_id', '=', withAwards.id).execute();
    expect(revisions).toEqual([{ revision: 1 }]);
    const without = await tool.app.definitions.create(course, { definition: definition('Draft'), criteria: { type: 'staffApproval' } }, lineItems, 'teacher');
    if (!without.ok) throw new Error('draft');
    const draftEdit = await tool.app.definitions.update(course, without.credential.id, { definition: definition('Draft 2'), criteria: { type: 'staffApproval' } }, lineItems, 'teacher');
    expect(draftEdit).toMatchObject({ ok: true, credential: { revision: 1, definition: { name: 'Draft 2' } } });
  });

  test('a credential is copied to another course of the same platform, and checked against that course', async () => {
    const other = { ...course, contextRef: (await tool.database.db.insertInto('lti_context').values({
      issuer: course.issuer, client_id: course.clientId, deployment_id: 'x', context_id: 'DS102', title: '統計学 / Statistics', label: 'DS102', last_launch_at: new Date(),
    }).returning('id').executeTakeFirstOrThrow()).id };
    const byTag = (await tool.app.definitions.list(course)).find((c) => c.definition.name === 'Composite')!;
    const copied = await tool.app.definitions.copy(course, byTag.id, other, lineItems, 'teacher');
    expect(copied).toMatchObject({ ok: true, credential: { copiedFrom: byTag.id, revision: 1 } });
    const byId = (await tool.app.definitions.list(course)).find((c) => c.definition.name === 'Essay ≥ 70 points')!;
    const refused = await tool.app.definitions.copy(course, byId.id, other, [], 'teacher');
    expect(refused).toMatchObject({ ok: false, errors: [expect.objectContaining({ path: '/criteria/select' })] });
    expect(await tool.app.definitions.list(other)).toHaveLength(1);
  });

  test('a prerequisite cycle is refused with its path', async () => {
    const a = await create('Cycle A', { type: 'staffApproval' });
    const b = await create('Cycle B', { type: 'prerequisite', credentialId: a });
    const cyclic = await tool.app.definitions.update(course, a, { definition: definition('Cycle A'), criteria: { type: 'prerequisite', credentialId: b } }, lineItems, 'teacher');
    expect(cyclic).toEqual({ ok: false, errors: [expect.objectContaining({ path: '/criteria/credentialId', message: expect.stringMatching(/cycle/i) })] });
    expect((await tool.app.definitions.get(course, a)).criteria).toEqual({ type: 'staffApproval' });
  });

  test('concurrent runs of several instances never award twice; one instance runs them in turn', async () => {
    const id = await create('Raced', { type: 'score', select: { tag: 'quiz' }, minPercent: 30 });
    // Three app instances on one database, each with its own awarding service and clients.
    const instances = [1, 2, 3].map(() => new AwardingService(tool.database.db, { interactive: new GradebookClients(tool.app.lti), background: new GradebookClients(tool.app.lti) }, createLogger('silent')));
    let reading = 0;
    let mostAtOnce = 0;
    const read = GradebookClient.prototype.fetchCourseGradebook;
    GradebookClient.prototype.fetchCourseGradebook = async function counted(this: GradebookClient, query) {
      mostAtOnce = Math.max(mostAtOnce, ++reading);
      try {
        return await read.call(this, query);
      } finally {
        reading--;
      }
    };
    try {
      const outcomes = await Promise.all(instances.map((awarding) => awarding.syncCourse(course.contextRef, 'course_sync')));
      expect(outcomes.every((o) => o.ok)).toBe(true);
      expect(mostAtOnce).toBe(3);
      mostAtOnce = 0;
      expect((await Promise.all([1, 2, 3].map(() => tool.app.awarding.syncCourse(course.contextRef, 'course_sync')))).every((o) => o.ok)).toBe(true);
      expect(mostAtOnce).toBe(1);
    } finally {
      GradebookClient.prototype.fetchCourseGradebook = read;
    }
    const rows = await tool.database.db.selectFrom('award').select(['user_id']).where('credential_id', '=', id).execute();
    expect(rows.length).toBe(new Set(rows.map((r) => r.user_id)).size);
    expect(rows.length).toBeGreaterThan(0);
  });
});
