import { GradebookClient } from '../../src/gradebook/client.js';
import { GradebookError } from '../../src/gradebook/errors.js';
import { policyFetch } from '../../src/lti/outbound-http.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { startTestTool, type TestTool } from '../helpers/tool.js';
import { connectLms, recordingSleep, type ConnectedLms } from './connect-lms.js';

const REFUSAL = 'points to 127.0.0.1, a loopback address; set OUTBOUND_ALLOW_PRIVATE_NETWORKS=true if the LMS is on your private network';

/**
 * Gradebook reads with policyFetch(false), the fetch the app gives them when
 * OUTBOUND_ALLOW_PRIVATE_NETWORKS=false, against an LMS on loopback: the token and service
 * requests are refused before they are sent, at once, and not retried.
 */
describe('gradebook reads under OUTBOUND_ALLOW_PRIVATE_NETWORKS=false', () => {
  let target: TestDatabase;
  let tool: TestTool;
  let lms: ConnectedLms;

  beforeAll(async () => {
    target = await createTestDatabase('pglite');
    // Private networks allowed for the set-up's launch; the clients below get the refusing fetch.
    tool = await startTestTool(target.env);
    lms = await connectLms(tool, { flavor: 'moodle' });
  });
  afterAll(async () => {
    await lms.emu.stop();
    await tool.stop();
    await target.dispose();
  });
  beforeEach(() => {
    lms.emu.requests.length = 0;
  });

  const failure = (read: Promise<unknown>) => read.then(() => undefined, (error: unknown) => error);

  test('the token request is refused, typed, once', async () => {
    const { sleep, waits } = recordingSleep();
    const client = new GradebookClient(tool.app.lti, lms.emu.url, lms.clientId, { fetch: policyFetch(false), sleep });
    const error = await failure(client.listLineItems(lms.lineItemsUrl));
    expect(error).toBeInstanceOf(GradebookError);
    expect(error).toMatchObject({ kind: 'address_refused', path: new URL(lms.emu.endpoints.token).pathname, attempts: 1 });
    expect((error as Error).message).toContain(`platform URL ${lms.emu.url} ${REFUSAL}`);
    expect(waits).toEqual([]);
    expect(lms.emu.requests).toEqual([]);
  });

  test('an AGS or NRPS request is refused too, even with a token in hand', async () => {
    const tokenUrl = lms.emu.endpoints.token;
    const refusing = policyFetch(false);
    const allowing = policyFetch(true);
    // Only the token request may reach the LMS here, so that the service request is what is refused.
    const client = new GradebookClient(tool.app.lti, lms.emu.url, lms.clientId, {
      fetch: (input, init) => (String(input) === tokenUrl ? allowing(input, init) : refusing(input, init)),
    });
    for (const [read, url] of [[() => client.listLineItems(lms.lineItemsUrl), lms.lineItemsUrl], [() => client.listMembers(lms.membershipsUrl), lms.membershipsUrl]] as const) {
      const error = await failure(read());
      expect(error).toMatchObject({ kind: 'address_refused', path: new URL(url).pathname, attempts: 1 });
      expect((error as Error).message).toContain(REFUSAL);
    }
    expect(lms.emu.requests.map((r) => r.path)).toEqual([new URL(tokenUrl).pathname, new URL(tokenUrl).pathname]);
  });
});
