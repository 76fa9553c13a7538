import fc from 'fast-check';
import { parseCriteria } from '../../src/criteria/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { startTestTool, type TestTool } from '../helpers/tool.js';

const VERDICTS = ['valid', 'invalid', 'revoked', 'expired', 'unverifiable'];

/** JSON that looks like a credential in places: the shapes a verifier's parser meets in the wild. */
const credentialLike = fc.record({
  '@context': fc.oneof(fc.constant(['https://www.w3.org/ns/credentials/v2', 'https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json']), fc.array(fc.oneof(fc.webUrl(), fc.string(), fc.jsonValue({ maxDepth: 2 })), { maxLength: 4 }), fc.string()),
  type: fc.oneof(fc.constant(['VerifiableCredential', 'OpenBadgeCredential']), fc.array(fc.string(), { maxLength: 3 }), fc.jsonValue({ maxDepth: 1 })),
  issuer: fc.oneof(fc.constant({ id: 'did:web:example.org:issuers:x', type: ['Profile'], name: 'X' }), fc.webUrl(), fc.jsonValue({ maxDepth: 2 })),
  validFrom: fc.oneof(fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), fc.string()),
  credentialSubject: fc.jsonValue({ maxDepth: 3 }),
  proof: fc.oneof(fc.record({ type: fc.constant('DataIntegrityProof'), cryptosuite: fc.constantFrom('eddsa-rdfc-2022', 'x'), proofValue: fc.string(), verificationMethod: fc.string() }), fc.jsonValue({ maxDepth: 2 })),
  credentialStatus: fc.option(fc.jsonValue({ maxDepth: 2 })),
}, { requiredKeys: [] });

/**
 * Random and half-right input at the endpoints strangers reach: the verify API, the criteria a
 * teacher pastes, and Dynamic Registration. The answer is always a clear one, never a 500.
 */
describe('hostile input', () => {
  let target: TestDatabase;
  let tool: TestTool;

  beforeAll(async () => {
    target = await createTestDatabase('pglite');
    tool = await startTestTool(target.env);
  });
  afterAll(async () => {
    await tool.stop();
    await target.dispose();
  });

  test('the verify API answers every body with a report or a clear refusal', async () => {
    const bodies = fc.oneof(
      credentialLike.map((c) => ({ type: 'application/json', body: JSON.stringify(c) })),
      fc.jsonValue({ maxDepth: 4 }).map((v) => ({ type: 'application/json', body: JSON.stringify(v) })),
      fc.string({ maxLength: 200 }).map((s) => ({ type: 'application/json', body: s })),
      fc.uint8Array({ maxLength: 300 }).map((b) => ({ type: 'image/png', body: Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from(b)]) })),
      fc.string({ maxLength: 300 }).map((s) => ({ type: 'image/svg+xml', body: `<svg xmlns="http://www.w3.org/2000/svg">${s}</svg>` })),
    );
    await fc.assert(fc.asyncProperty(bodies, async ({ type, body }) => {
      const res = await fetch(`${tool.url}/api/v1/verify`, { method: 'POST', headers: { 'content-type': type }, body });
      const answer = (await res.json()) as { verdict?: string; error?: string };
      if (res.status === 200) expect(VERDICTS).toContain(answer.verdict);
      else expect({ status: res.status, error: typeof answer.error }).toEqual({ status: expect.any(Number), error: 'string' });
      expect(res.status).not.toBe(500);
    }), { numRuns: 150 });
    // None of it was an unhandled error.
    expect(tool.logs.text()).not.toMatch(/"level":50/);
  });

  test('the criteria parser is total on any JSON: a tree or field errors, never a throw', () => {
    fc.assert(fc.property(fc.jsonValue({ maxDepth: 6 }), (input) => {
      const parsed = parseCriteria(input);
      if (!parsed.ok) {
        expect(parsed.errors.length).toBeGreaterThan(0);
        for (const e of parsed.errors) expect(e.path).toMatch(/^(\/|$)/);
      }
    }), { numRuns: 2000 });
  });

  test('Dynamic Registration refuses odd parameters with a page, and never a 500', async () => {
    // Hosts under .invalid never resolve (RFC 6761), and port 9 on loopback is closed: nothing leaves the machine.
    const nowhere = fc.tuple(fc.constantFrom('http', 'https'), fc.domain().map((d) => `${d}.invalid`), fc.webPath()).map(([scheme, host, p]) => `${scheme}://${host}${p}`);
    const urls = fc.oneof(nowhere, fc.constant('http://127.0.0.1:9/openid-configuration'), fc.string({ maxLength: 80 }), fc.constantFrom('file:///etc/passwd', 'data:application/json,{}', 'javascript:alert(1)', 'http://[::1', 'http://user:pass@127.0.0.1/x', 'ftp://example.org/'));
    await fc.assert(fc.asyncProperty(urls, fc.option(fc.string({ maxLength: 40 })), async (configUrl, token) => {
      const query = new URLSearchParams({ openid_configuration: configUrl, ...(token === null ? {} : { registration_token: token }) });
      const res = await fetch(`${tool.url}/register?${query}`, { headers: { accept: 'text/html' } });
      expect(res.status).not.toBe(500);
      expect(res.status).toBeGreaterThanOrEqual(200);
      expect(await res.text()).toContain('<html');
    }), { numRuns: 40 });
  });
});
