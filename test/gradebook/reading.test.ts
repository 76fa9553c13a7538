import { GradebookClient } from '../../src/gradebook/client.js';
import { learnerSnapshots } from '../../src/gradebook/snapshot.js';
import type { LmsFlavor } from '../emulator/index.js';
import { ACTIVITIES, LEARNERS, SAMPLE_COURSE } from '../fixtures/sample-course.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { startTestTool, type TestTool } from '../helpers/tool.js';
import { connectLms, type ConnectedLms } from './connect-lms.js';

const PAGE_SIZE = 4;
const isService = (path: string) => !path.endsWith('/token.php') && !path.endsWith('/oauth2/token');
const pagesFor = (count: number) => Math.max(Math.ceil(count / PAGE_SIZE), 1);

describe.each<LmsFlavor>(['moodle', 'canvas'])('reading the %s gradebook', (flavor) => {
  let target: TestDatabase;
  let tool: TestTool;
  let lms: ConnectedLms;
  const client = () => new GradebookClient(tool.app.lti, lms.emu.url, lms.clientId, { pageSize: PAGE_SIZE });

  beforeAll(async () => {
    target = await createTestDatabase('pglite');
    tool = await startTestTool(target.env);
    // Moodle flavor keeps its paging quirks (curly-quoted rel, &amp; between parameters).
    lms = await connectLms(tool, { flavor, defaultPageSize: PAGE_SIZE });
  });
  afterAll(async () => {
    await lms.emu.stop();
    await tool.stop();
    await target.dispose();
  });
  beforeEach(() => {
    lms.emu.requests.length = 0;
  });

  test('the whole course: every page of line items, roster and results, one token per scope', async () => {
    const gradebook = await client().fetchCourseGradebook({ lineItemsUrl: lms.lineItemsUrl, membershipsUrl: lms.membershipsUrl });

    expect(gradebook.lineItems).toEqual(lms.emu.lineItems(SAMPLE_COURSE.id).map((li) => ({
      id: li.id, label: li.label, scoreMaximum: li.scoreMaximum, ...(li.tag ? { tag: li.tag } : {}),
    })));
    expect(gradebook.members).toHaveLength(LEARNERS.length + 2);
    const learner = gradebook.members.find((m) => m.userId === LEARNERS[0]!.id)!;
    expect(learner).toEqual({
      userId: LEARNERS[0]!.id, name: LEARNERS[0]!.name, givenName: LEARNERS[0]!.givenName, familyName: LEARNERS[0]!.familyName,
      email: LEARNERS[0]!.email, status: 'Active',
      // Kept as the platform sends them: Moodle's short names, Canvas' URIs.
      roles: flavor === 'moodle' ? ['Learner'] : ['http://purl.imsglobal.org/vocab/lis/v2/membership#Learner'],
    });

    let resultCount = 0;
    const resultsPerItem = new Map<string, number>();
    for (const l of LEARNERS) {
      for (const li of gradebook.lineItems) {
        const stored = lms.emu.getScore(SAMPLE_COURSE.id, li.id, l.id);
        const result = gradebook.resultsByUser.get(l.id)?.[li.id];
        if (!stored) {
          expect(result).toBeUndefined();
          continue;
        }
        resultCount += 1;
        resultsPerItem.set(li.id, (resultsPerItem.get(li.id) ?? 0) + 1);
        expect(result).toEqual({
          lineItemId: li.id, score: stored.scoreGiven, maximum: stored.scoreMaximum,
          // Moodle sends date('c') timestamps; Canvas sends none.
          ...(flavor === 'moodle' ? { timestamp: stored.timestamp } : {}),
        });
      }
    }
    // Later activities were skipped by some learners, as the fixture intends.
    expect(resultCount).toBeLessThan(LEARNERS.length * ACTIVITIES.length);

    const servicePages = pagesFor(gradebook.lineItems.length) + pagesFor(gradebook.members.length)
      + [...resultsPerItem.values()].reduce((sum, n) => sum + pagesFor(n), 0);
    expect(servicePages).toBeGreaterThan(20);
    const requests = lms.emu.requests;
    expect(requests.filter((r) => !isService(r.path)).map((r) => r.scope).sort()).toEqual([
      'https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly',
      'https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly',
      'https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly',
    ]);
    expect(requests.filter((r) => isService(r.path))).toHaveLength(servicePages);
    expect(requests.every((r) => r.status === 200)).toBe(true);
    expect(gradebook.stats).toEqual({ requests: servicePages + 3, retries: 0, pages: servicePages });
    // Every `next` was read through the malformed header: no `amp;limit` parameter reached the LMS.
    expect(requests.some((r) => Object.keys(r.query).some((k) => k.startsWith('amp;')))).toBe(false);
    expect(requests.filter((r) => r.path.endsWith('/results') && Number(r.query.from ?? r.query.page ?? 0) > 1).length).toBeGreaterThan(0);
  });

  test('active learners get a snapshot each, with what the caller holds about them', async () => {
    const gradebook = await client().fetchCourseGradebook({ lineItemsUrl: lms.lineItemsUrl, membershipsUrl: lms.membershipsUrl });
    const [first, second] = LEARNERS;
    const snapshots = learnerSnapshots(gradebook, {
      heldCredentials: new Map([[first!.id, ['credential-a']]]),
      staffApprovals: new Map([[second!.id, ['credential-b']]]),
    });
    expect(snapshots.map((s) => s.userId).sort()).toEqual(LEARNERS.map((l) => l.id).sort());
    expect(snapshots.find((s) => s.userId === first!.id)).toMatchObject({
      fetchedAt: gradebook.fetchedAt, heldCredentials: ['credential-a'], staffApprovals: [], lineItems: gradebook.lineItems,
      results: gradebook.resultsByUser.get(first!.id),
    });
    expect(snapshots.find((s) => s.userId === second!.id)).toMatchObject({ heldCredentials: [], staffApprovals: ['credential-b'] });
  });

  test('one learner: exactly one results request per line item, filtered by user_id', async () => {
    const learner = LEARNERS[4]!;
    const { snapshot, stats } = await client().fetchLearnerSnapshot({ lineItemsUrl: lms.lineItemsUrl, userId: learner.id, heldCredentials: [], staffApprovals: ['x'] });
    const resultRequests = lms.emu.requests.filter((r) => r.path.endsWith('/results'));
    expect(resultRequests).toHaveLength(snapshot.lineItems.length);
    expect(resultRequests.every((r) => r.query.user_id === learner.id && r.query.limit === undefined)).toBe(true);
    const expected = Object.fromEntries(snapshot.lineItems.flatMap((li) => {
      const stored = lms.emu.getScore(SAMPLE_COURSE.id, li.id, learner.id);
      return stored ? [[li.id, expect.objectContaining({ score: stored.scoreGiven, maximum: stored.scoreMaximum })]] : [];
    }));
    expect(snapshot.results).toEqual(expected);
    expect(Object.keys(snapshot.results).length).toBeLessThan(snapshot.lineItems.length);
    expect(snapshot).toMatchObject({ userId: learner.id, heldCredentials: [], staffApprovals: ['x'] });
    expect(stats).toEqual({ requests: lms.emu.requests.length, retries: 0, pages: lms.emu.requests.filter((r) => isService(r.path)).length });
  });

  test('a role filter stays on every page of the roster (Moodle drops it from its next link)', async () => {
    const learners = await client().listMembers(lms.membershipsUrl, { role: 'Learner' });
    expect(learners.map((m) => m.userId).sort()).toEqual(LEARNERS.map((l) => l.id).sort());
    const pages = lms.emu.requests.filter((r) => isService(r.path));
    expect(pages).toHaveLength(pagesFor(LEARNERS.length));
    expect(pages.every((r) => r.query.role === 'Learner')).toBe(true);
  });

  test('line item filters are sent and kept across pages', async () => {
    const onePerPage = new GradebookClient(tool.app.lti, lms.emu.url, lms.clientId, { pageSize: 1 });
    const quizzes = await onePerPage.listLineItems(lms.lineItemsUrl, { tag: 'quiz' });
    expect(quizzes.map((li) => li.label)).toEqual(ACTIVITIES.filter((a) => a.tag === 'quiz').map((a) => a.label));
    const pages = lms.emu.requests.filter((r) => isService(r.path));
    expect(pages).toHaveLength(2);
    expect(pages.every((r) => r.query.tag === 'quiz')).toBe(true);
  });

  test('scores on another scale, a score of zero, a result without a score, and no result at all', async () => {
    const item = lms.emu.addLineItem(SAMPLE_COURSE.id, { label: 'Rescaled quiz', scoreMaximum: 50, toolClientId: lms.clientId });
    const [scaled, zero, pending, absent] = LEARNERS;
    const score = (scoreGiven: number | null, gradingProgress = 'FullyGraded') => ({
      scoreGiven, scoreMaximum: 10, activityProgress: 'Completed', gradingProgress, timestamp: '2026-12-01T10:00:00Z',
    });
    lms.emu.setScore(SAMPLE_COURSE.id, item.id, scaled!.id, score(8));
    lms.emu.setScore(SAMPLE_COURSE.id, item.id, zero!.id, score(0));
    lms.emu.setScore(SAMPLE_COURSE.id, item.id, pending!.id, score(null, 'Pending'));

    const byUser = new Map((await client().listResults({ id: item.id, scoreMaximum: item.scoreMaximum })).map((r) => [r.userId, r.result]));
    const base = { lineItemId: item.id };
    if (flavor === 'moodle') {
      // Moodle rescales to the line item's maximum, omits every score field of a zero grade, and lists only graded users.
      expect(byUser.get(scaled!.id)).toEqual({ ...base, score: 40, maximum: 50, timestamp: '2026-12-01T10:00:00.000Z' });
      expect(byUser.get(zero!.id)).toEqual({ ...base, score: null, maximum: 50 });
      expect(byUser.has(pending!.id)).toBe(false);
    } else {
      // Canvas keeps the posted score and maximum, and lists a result without a score.
      expect(byUser.get(scaled!.id)).toEqual({ ...base, score: 8, maximum: 10 });
      expect(byUser.get(zero!.id)).toEqual({ ...base, score: 0, maximum: 10 });
      expect(byUser.get(pending!.id)).toEqual({ ...base, score: null, maximum: 10 });
    }
    expect(byUser.has(absent!.id)).toBe(false);
  });
});
