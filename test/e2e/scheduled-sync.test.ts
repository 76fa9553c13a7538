import { connectLms, type ConnectedLms } from '../gradebook/connect-lms.js';
import { createTestDatabase, DATABASE_KINDS, type TestDatabase } from '../helpers/databases.js';
import { startTestTool, type TestTool } from '../helpers/tool.js';

async function until<T>(probe: () => Promise<T | undefined | null>, timeoutMs = 45_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe.each(DATABASE_KINDS)('scheduled course syncs across two app instances on %s', (kind) => {
  let target: TestDatabase;
  let first: TestTool;
  let second: TestTool;
  let lms: ConnectedLms;

  beforeAll(async () => {
    target = await createTestDatabase(kind);
    first = await startTestTool(target.env);
    // The second instance shares the database (embedded: through the first one's socket) and the key.
    second = await startTestTool({ ...target.env, PUBLIC_URL: first.config.publicUrl });
    lms = await connectLms(first, { flavor: 'canvas' });
  });
  afterAll(async () => {
    await lms.emu.stop();
    await second.stop();
    await first.stop();
    await target.dispose();
  });

  test('a sweep syncs each course with credentials once, and a learner who never returns is awarded', async () => {
    const ctx = await first.database.db.selectFrom('lti_context').select(['id', 'issuer', 'client_id']).executeTakeFirstOrThrow();
    const course = { contextRef: ctx.id, issuer: ctx.issuer, clientId: ctx.client_id };
    const saved = await first.app.definitions.create(course, {
      definition: {
        name: 'Quizzes', description: 'All quizzes passed.', criteriaNarrative: 'Quizzes ≥ 50%', language: 'en', version: '1', learningOutcomes: ['Explain data types'],
        workloadHours: 5, eqfLevel: 4, assessmentTypes: ['test'], participation: 'online', qualityAssurance: 'Internal', awardingBody: { name: 'Example University' }, awardingCountry: 'JP',
      },
      criteria: { type: 'score', select: { tag: 'quiz' }, minPercent: 50 },
    }, await first.app.awarding.courseLineItems(ctx.id), 'teacher');
    expect(saved.ok).toBe(true);

    await Promise.all([first.app.scheduler.sweepNow(), second.app.scheduler.sweepNow()]);
    await until(() => first.database.db.selectFrom('course_sync').select('last_success_at').where('context_ref', '=', ctx.id).where('last_success_at', 'is not', null).executeTakeFirst());

    const awards = await first.database.db.selectFrom('award').select('user_id').execute();
    expect(awards.length).toBeGreaterThan(0);
    expect(new Set(awards.map((a) => a.user_id)).size).toBe(awards.length);
    const decisions = await first.database.db.selectFrom('award_decision').select(['trigger']).execute();
    expect(new Set(decisions.map((d) => d.trigger))).toEqual(new Set(['scheduled']));
    const syncs = [...first.logs.records(), ...second.logs.records()].filter((r) => r.msg === 'course gradebook synced');
    expect(syncs).toHaveLength(1);
  });
});
