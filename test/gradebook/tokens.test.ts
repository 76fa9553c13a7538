import * as jose from 'jose';
import { createClientAssertion, loadPlatformCredentials } from '../../src/gradebook/access-tokens.js';
import { GradebookClient, GradebookClients } from '../../src/gradebook/client.js';
import { GradebookError } from '../../src/gradebook/errors.js';
import { PlatformNotFoundError } from '../../src/lti/platforms.js';
import type { LmsFlavor } from '../emulator/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { startTestTool, type TestTool } from '../helpers/tool.js';
import { SERVICE_SCOPES } from '../emulator/vocabulary.js';
import { connectLms, type ConnectedLms } from './connect-lms.js';

const LINE_ITEM_SCOPE = 'https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly';
const isTokenRequest = (path: string) => path.endsWith('/token.php') || path.endsWith('/oauth2/token');

describe.each<LmsFlavor>(['moodle', 'canvas'])('access tokens from %s', (flavor) => {
  let target: TestDatabase;
  let tool: TestTool;
  let lms: ConnectedLms;
  const tokenRequests = (l: ConnectedLms = lms) => l.emu.requests.filter((r) => isTokenRequest(r.path));
  const statuses = (l: ConnectedLms = lms) => l.emu.requests.map((r) => `${isTokenRequest(r.path) ? 'token' : 'service'} ${r.status}`);

  beforeAll(async () => {
    target = await createTestDatabase('pglite');
    tool = await startTestTool(target.env);
    lms = await connectLms(tool, { flavor });
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

  test('the client assertion follows the IMS Security Framework and verifies against the tool JWKS', async () => {
    const credentials = await loadPlatformCredentials(tool.app.lti, lms.emu.url, lms.clientId);
    expect(credentials).toMatchObject({ issuer: lms.emu.url, clientId: lms.clientId, tokenUrl: lms.emu.endpoints.token, audience: lms.emu.endpoints.token });
    const assertion = await createClientAssertion(credentials);
    const { payload, protectedHeader } = await jose.jwtVerify(assertion, jose.createRemoteJWKSet(new URL(`${tool.url}/lti/keys`)), {
      algorithms: ['RS256'], issuer: lms.clientId, subject: lms.clientId, audience: lms.emu.endpoints.token,
    });
    expect(protectedHeader.kid).toBe(credentials.kid);
    expect(payload.exp! - payload.iat!).toBe(60);
    expect(payload.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect((await jose.decodeJwt(await createClientAssertion(credentials))).jti).not.toBe(payload.jti);
  });

  test('one token per scope, reused, and shared by callers who ask at the same time', async () => {
    const client = new GradebookClient(tool.app.lti, lms.emu.url, lms.clientId);
    await Promise.all([client.listLineItems(lms.lineItemsUrl), client.listLineItems(lms.lineItemsUrl), client.listLineItems(lms.lineItemsUrl)]);
    await client.listLineItems(lms.lineItemsUrl);
    expect(tokenRequests().map((r) => r.scope)).toEqual([LINE_ITEM_SCOPE]);
    await client.listMembers(lms.membershipsUrl);
    expect(tokenRequests()).toHaveLength(2);
    expect(lms.emu.issuedAccessTokens()).toHaveLength(2);
  });

  test('clients for the same platform are one client, so they share its tokens', async () => {
    const clients = new GradebookClients(tool.app.lti);
    expect(clients.forPlatform(lms.emu.url, lms.clientId)).toBe(clients.forPlatform(lms.emu.url, lms.clientId));
    await clients.forPlatform(lms.emu.url, lms.clientId).listLineItems(lms.lineItemsUrl);
    await clients.forPlatform(lms.emu.url, lms.clientId).listLineItems(lms.lineItemsUrl);
    expect(tokenRequests()).toHaveLength(1);
  });

  test(`the token answer is read as JSON whatever its Content-Type (${flavor === 'moodle' ? 'Moodle sends text/html' : 'application/json'})`, async () => {
    const contentTypes: string[] = [];
    const client = new GradebookClient(tool.app.lti, lms.emu.url, lms.clientId, {
      fetch: async (input, init) => {
        const res = await fetch(input, init);
        if (isTokenRequest(new URL(String(input)).pathname)) contentTypes.push(res.headers.get('content-type')!.split(';')[0]!);
        return res;
      },
    });
    expect(await client.listLineItems(lms.lineItemsUrl)).toHaveLength(5);
    expect(contentTypes).toEqual([flavor === 'moodle' ? 'text/html' : 'application/json']);
  });

  test('a token the platform stops accepting is replaced once, and the read succeeds', async () => {
    const client = new GradebookClient(tool.app.lti, lms.emu.url, lms.clientId);
    await client.listLineItems(lms.lineItemsUrl);
    lms.emu.faults.set({ kind: 'expired-token', times: 1 });
    const { stats } = await client.fetchLearnerSnapshot({ lineItemsUrl: lms.lineItemsUrl, userId: 'learner-01', heldCredentials: [], staffApprovals: [] });
    expect(statuses().slice(0, 4)).toEqual(['token 200', 'service 200', 'service 401', 'token 200']);
    expect(statuses().slice(4).every((s) => s === 'service 200' || s === 'token 200')).toBe(true);
    expect(stats.retries).toBe(1);
  });

  test('a token refused again after renewal fails as unauthorized, without looping', async () => {
    const client = new GradebookClient(tool.app.lti, lms.emu.url, lms.clientId);
    lms.emu.faults.set({ kind: 'expired-token' });
    const failure = await client.listLineItems(lms.lineItemsUrl).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(GradebookError);
    expect(failure).toMatchObject({ kind: 'unauthorized', status: 401, attempts: 2, path: new URL(lms.lineItemsUrl).pathname });
    expect(statuses()).toEqual(['token 200', 'service 401', 'token 200', 'service 401']);
  });

  test('a platform that is not registered is reported as such', async () => {
    const client = new GradebookClient(tool.app.lti, 'https://lms.invalid', 'nobody');
    await expect(client.listLineItems(lms.lineItemsUrl)).rejects.toBeInstanceOf(PlatformNotFoundError);
    expect(lms.emu.requests).toHaveLength(0);
  });

  describe('with short-lived tokens and a tool without NRPS', () => {
    let shortLived: ConnectedLms;
    let noRoster: ConnectedLms;
    beforeAll(async () => {
      shortLived = await connectLms(tool, { flavor, accessTokenTtlSeconds: 2 });
      noRoster = await connectLms(tool, { flavor, scopes: SERVICE_SCOPES.filter((s) => !s.includes('lti-nrps')) });
    });
    afterAll(async () => {
      await shortLived.emu.stop();
      await noRoster.emu.stop();
    });

    test('a token is replaced before it expires (at most half its lifetime early), never after a 401', async () => {
      const client = new GradebookClient(tool.app.lti, shortLived.emu.url, shortLived.clientId);
      await client.listLineItems(shortLived.lineItemsUrl);
      await client.listLineItems(shortLived.lineItemsUrl);
      expect(tokenRequests(shortLived)).toHaveLength(1);
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      await client.listLineItems(shortLived.lineItemsUrl);
      expect(tokenRequests(shortLived)).toHaveLength(2);
      expect(statuses(shortLived)).toEqual(['token 200', 'service 200', 'service 200', 'token 200', 'service 200']);
    });

    test('a scope the platform did not grant fails as unauthorized before any service call', async () => {
      const client = new GradebookClient(tool.app.lti, noRoster.emu.url, noRoster.clientId);
      // The launch carried no NRPS claim; the roster's address is what it would be on this LMS.
      const membershipsUrl = new URL(new URL(lms.membershipsUrl).pathname, noRoster.emu.url).toString();
      const failure = await client.listMembers(membershipsUrl).catch((error: unknown) => error);
      expect(failure).toMatchObject({ kind: 'unauthorized', status: 400, attempts: 1, path: new URL(noRoster.emu.endpoints.token).pathname });
      expect((failure as Error).message).toContain('invalid_scope');
      expect(statuses(noRoster)).toEqual(['token 400']);
    });
  });
});
