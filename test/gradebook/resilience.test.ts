import * as jose from 'jose';
import { GradebookClient, type GradebookClientOptions } from '../../src/gradebook/client.js';
import { GradebookError } from '../../src/gradebook/errors.js';
import type { LmsFlavor } from '../emulator/index.js';
import { SAMPLE_COURSE } from '../fixtures/sample-course.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { startTestTool, type TestTool } from '../helpers/tool.js';
import { connectLms, recordingSleep, type ConnectedLms } from './connect-lms.js';

const isTokenRequest = (path: string) => path.endsWith('/token.php') || path.endsWith('/oauth2/token');

describe.each<LmsFlavor>(['moodle', 'canvas'])('when %s misbehaves', (flavor) => {
  let target: TestDatabase;
  let tool: TestTool;
  let lms: ConnectedLms;
  let lineItemsPath: string;
  const client = (options: GradebookClientOptions = {}) => new GradebookClient(tool.app.lti, lms.emu.url, lms.clientId, options);
  const course = () => ({ lineItemsUrl: lms.lineItemsUrl, membershipsUrl: lms.membershipsUrl });
  const serviceStatuses = (path: string) => lms.emu.requests.filter((r) => r.path === path).map((r) => r.status);

  beforeAll(async () => {
    target = await createTestDatabase('pglite');
    tool = await startTestTool(target.env);
    lms = await connectLms(tool, { flavor });
    lineItemsPath = new URL(lms.lineItemsUrl).pathname;
  });
  afterAll(async () => {
    await lms.emu.stop();
    await tool.stop();
    await target.dispose();
  });
  beforeEach(() => {
    lms.emu.faults.clear();
    lms.emu.requests.length = 0;
  });

  test('429 with Retry-After: waits as told, then succeeds', async () => {
    const { sleep, waits } = recordingSleep();
    lms.emu.faults.set({ kind: 'rate-limit', retryAfterSeconds: 1, times: 2, pathPrefix: lineItemsPath });
    const gradebook = await client({ sleep }).fetchCourseGradebook(course());
    expect(gradebook.lineItems).toHaveLength(5);
    expect(waits).toEqual([1_000, 1_000]);
    expect(serviceStatuses(lineItemsPath)).toEqual([429, 429, 200]);
    expect(gradebook.stats.retries).toBe(2);
    expect(gradebook.stats.requests).toBe(lms.emu.requests.length);
  });

  test('a Retry-After longer than we hold a read for fails at once', async () => {
    const { sleep, waits } = recordingSleep();
    lms.emu.faults.set({ kind: 'rate-limit', retryAfterSeconds: 3_600, pathPrefix: lineItemsPath });
    const failure = await client({ sleep }).listLineItems(lms.lineItemsUrl).catch((error: unknown) => error);
    expect(failure).toMatchObject({ kind: 'unavailable', status: 429, attempts: 1 });
    expect(waits).toEqual([]);
  });

  test('500 twice: backs off with full jitter, then succeeds', async () => {
    const { sleep, waits } = recordingSleep();
    lms.emu.faults.set({ kind: 'server-error', times: 2, pathPrefix: lineItemsPath });
    const items = await client({ sleep, random: () => 0.5 }).listLineItems(lms.lineItemsUrl);
    expect(items).toHaveLength(5);
    // Half of 250 ms, then half of 500 ms.
    expect(waits).toEqual([125, 250]);
    expect(serviceStatuses(lineItemsPath)).toEqual([500, 500, 200]);
  });

  test('the token endpoint failing is retried the same way, with a fresh client assertion each time', async () => {
    const { sleep } = recordingSleep();
    const assertionIds: unknown[] = [];
    const watchingFetch: typeof fetch = (input, init) => {
      const assertion = new URLSearchParams(String(init?.body ?? '')).get('client_assertion');
      if (assertion) assertionIds.push(jose.decodeJwt(assertion).jti);
      return fetch(input, init);
    };
    lms.emu.faults.set({ kind: 'server-error', times: 1, pathPrefix: lms.emu.endpoints.token });
    expect(await client({ sleep, fetch: watchingFetch }).listLineItems(lms.lineItemsUrl)).toHaveLength(5);
    expect(lms.emu.requests.filter((r) => isTokenRequest(r.path)).map((r) => r.status)).toEqual([500, 200]);
    expect(assertionIds).toHaveLength(2);
    expect(new Set(assertionIds).size).toBe(2);
  });

  test('one line item\'s results failing for good fails the whole course: unavailable, no partial gradebook, nothing left running', async () => {
    const { sleep, waits } = recordingSleep();
    const [, , broken] = lms.emu.lineItems(SAMPLE_COURSE.id);
    const brokenResults = `${new URL(broken!.id).pathname}/results`;
    lms.emu.faults.set({ kind: 'server-error', pathPrefix: brokenResults });
    const reading = client({ sleep }).fetchCourseGradebook(course());
    const failure = await reading.catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(GradebookError);
    expect(failure).toMatchObject({ kind: 'unavailable', status: 500, attempts: 5, path: brokenResults });
    expect(serviceStatuses(brokenResults)).toEqual([500, 500, 500, 500, 500]);
    expect(waits).toHaveLength(4);
    const served = lms.emu.requests.length;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(lms.emu.requests).toHaveLength(served);
  });

  test('a 404 is not_found at once, without retries', async () => {
    const { sleep, waits } = recordingSleep();
    const [first] = lms.emu.lineItems(SAMPLE_COURSE.id);
    const missing = first!.id.replace(/\/(lineitems|line_items)\/\d+/, '/$1/999');
    const failure = await client({ sleep }).listResults({ id: missing, scoreMaximum: 10 }).catch((error: unknown) => error);
    expect(failure).toMatchObject({ kind: 'not_found', status: 404, attempts: 1, path: `${new URL(missing).pathname}/results` });
    expect(waits).toEqual([]);
  });

  test('an answer larger than the bound is refused as bad_response', async () => {
    const failure = await client({ maxResponseBytes: 2_000 }).listMembers(lms.membershipsUrl).catch((error: unknown) => error);
    expect(failure).toMatchObject({ kind: 'bad_response', attempts: 1, path: new URL(lms.membershipsUrl).pathname });
    expect((failure as Error).message).toContain('larger than 2000 bytes');
  });

  test.each([
    ['a results page that is not a list', () => ({ results: [] }), '(body): expected an array'],
    ['a result whose score is text', (r: Record<string, unknown>[]) => [{ ...r[0], resultScore: 'seven' }, ...r.slice(1)], '0.resultScore: must be a number'],
    ['a result without a user', (r: Record<string, unknown>[]) => [...r.slice(0, 1), { ...r[1], userId: '' }], '1.userId: must be a non-empty string or a number'],
    ['a result with a numeric progress', (r: Record<string, unknown>[]) => [{ ...r[0], gradingProgress: 3 }], '0.gradingProgress: must be a string'],
  ])('%s is refused as bad_response naming the field, and the read gives nothing', async (_what, corrupt, message) => {
    const corrupting: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (!new URL(String(input)).pathname.endsWith('/results')) return res;
      const body = JSON.stringify(corrupt(JSON.parse(await res.text()) as Record<string, unknown>[]));
      return new Response(body, { status: res.status, headers: res.headers });
    };
    const failure = await client({ fetch: corrupting }).fetchCourseGradebook(course()).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(GradebookError);
    expect(failure).toMatchObject({ kind: 'bad_response' });
    expect((failure as Error).message).toContain(message);
  });

  test('an answer slower than the timeout fails as timeout after the attempts', async () => {
    const { sleep } = recordingSleep();
    lms.emu.faults.set({ kind: 'slow', delayMs: 1_000, pathPrefix: lineItemsPath });
    const started = Date.now();
    const failure = await client({ sleep, timeoutMs: 150, maxAttempts: 2 }).listLineItems(lms.lineItemsUrl).catch((error: unknown) => error);
    expect(failure).toMatchObject({ kind: 'timeout', attempts: 2, status: undefined, path: lineItemsPath });
    expect(Date.now() - started).toBeLessThan(900);
  });

  test('a whole-course read never has more than 4 requests in flight to the platform', async () => {
    for (let n = 0; n < 15; n++) lms.emu.addLineItem(SAMPLE_COURSE.id, { label: `Exercise ${n + 1}`, scoreMaximum: 10, toolClientId: lms.clientId });
    let inFlight = 0;
    let mostInFlight = 0;
    const countingFetch: typeof fetch = async (input, init) => {
      inFlight += 1;
      mostInFlight = Math.max(mostInFlight, inFlight);
      try {
        return await fetch(input, init);
      } finally {
        inFlight -= 1;
      }
    };
    lms.emu.faults.set({ kind: 'slow', delayMs: 40 });
    const gradebook = await client({ fetch: countingFetch }).fetchCourseGradebook(course());
    expect(gradebook.lineItems).toHaveLength(20);
    expect(mostInFlight).toBe(4);
    expect(gradebook.stats.requests).toBe(lms.emu.requests.length);
  });
});
