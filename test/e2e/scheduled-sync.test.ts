import { connectLms, defineQuizCredential, type ConnectedLms } from '../gradebook/connect-lms.js';
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
    const { course } = await defineQuizCredential(first, 50);

    await Promise.all([first.app.scheduler.sweepNow(), second.app.scheduler.sweepNow()]);
    await until(() => first.database.db.selectFrom('course_sync').select('last_success_at').where('context_ref', '=', course.contextRef).where('last_success_at', 'is not', null).executeTakeFirst());

    const awards = await first.database.db.selectFrom('award').select('user_id').execute();
    expect(awards.length).toBeGreaterThan(0);
    expect(new Set(awards.map((a) => a.user_id)).size).toBe(awards.length);
    const decisions = await first.database.db.selectFrom('award_decision').select(['trigger']).execute();
    expect(new Set(decisions.map((d) => d.trigger))).toEqual(new Set(['scheduled']));
    const syncs = [...first.logs.records(), ...second.logs.records()].filter((r) => r.msg === 'course gradebook synced');
    expect(syncs).toHaveLength(1);
  });
});
