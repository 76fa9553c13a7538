import { LEARNERS, RESOURCE_LINK, SAMPLE_COURSE } from '../fixtures/sample-course.js';
import { connectLms, defineQuizCredential, type ConnectedLms } from '../gradebook/connect-lms.js';
import { createTestDatabase, DATABASE_KINDS, type TestDatabase } from '../helpers/databases.js';
import { LtiBrowser } from '../helpers/lti-client.js';
import { startTestTool, type TestTool } from '../helpers/tool.js';

const AT_ONCE = 8;
const ROUNDS = 5;

describe.each(DATABASE_KINDS)('launches at once on %s', (kind) => {
  let target: TestDatabase;
  let tool: TestTool;
  let lms: ConnectedLms;

  beforeAll(async () => {
    target = await createTestDatabase(kind);
    tool = await startTestTool({ ...target.env, COURSE_SYNC_CRON: 'off' });
    lms = await connectLms(tool, { flavor: 'moodle' });
  });
  afterAll(async () => {
    await lms.emu.stop();
    await tool.stop();
    await target.dispose();
  });

  // ltijs stores a launch's session by deleting the user's previous one and creating the new one;
  // another launch reading between the two found no session and answered 401.
  test('every launch gets its page: storing one session never hides another', async () => {
    const learner = LEARNERS[0]!.id;
    const statuses: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const pages = await Promise.all(Array.from({ length: AT_ONCE }, () => new LtiBrowser().launch(lms.emu, { userId: learner, courseId: SAMPLE_COURSE.id, resourceLinkId: RESOURCE_LINK.id, clientId: lms.clientId })));
      statuses.push(...pages.map((p) => p.status));
    }
    expect(statuses).toEqual(Array.from({ length: AT_ONCE * ROUNDS }, () => 200));
  });

  test("a learner's page tells, in Server-Timing, its own time from the time it waited on the LMS's results", async () => {
    const timing = (headers: Headers | undefined) => Object.fromEntries([...(headers?.get('server-timing') ?? '').matchAll(/(\w+);dur=([\d.]+)/g)].map((m) => [m[1]!, Number(m[2])]));
    await defineQuizCredential(tool, 50);
    lms.emu.requests.length = 0;
    const page = await new LtiBrowser().launch(lms.emu, { userId: LEARNERS[1]!.id, courseId: SAMPLE_COURSE.id, resourceLinkId: RESOURCE_LINK.id, clientId: lms.clientId });
    expect(page.status).toBe(200);
    expect(lms.emu.requests.some((r) => r.path.includes('/results'))).toBe(true);
    const { lms: waited, total } = timing(page.headers);
    expect(waited).toBeGreaterThan(0);
    expect(total).toBeGreaterThan(waited!);
    const health = await fetch(`${tool.url}/healthz`);
    expect(timing(health.headers).lms).toBe(0);
    // A session answer is never kept by a browser or proxy cache; a public one may be.
    expect(page.headers!.get('cache-control')).toBe('no-store');
    expect(health.headers.get('cache-control')).toBeNull();
  });
});
