import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { startTestTool, type TestTool } from '../helpers/tool.js';

/** The public pages' budgets per client address: 429 with Retry-After, in the client's language, and per address. */
describe('rate limits on the public endpoints', () => {
  let target: TestDatabase;
  let tool: TestTool;

  beforeAll(async () => {
    target = await createTestDatabase('pglite');
    tool = await startTestTool({ ...target.env, RATE_LIMIT_PER_MINUTE: '3', RATE_LIMIT_REGISTRATIONS_PER_MINUTE: '2' });
  });
  afterAll(async () => {
    await tool.stop();
    await target.dispose();
  });

  // The tool trusts X-Forwarded-For from loopback (its reverse proxy), so each test is its own client.
  const from = (address: string, headers: Record<string, string> = {}) => ({ 'x-forwarded-for': address, ...headers });
  const verify = (address: string) => fetch(`${tool.url}/api/v1/verify`, { method: 'POST', headers: from(address, { 'content-type': 'application/json', 'accept-language': 'ja' }), body: '{}' });

  test('the verify API answers 429 with Retry-After once an address has spent its minute', async () => {
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await verify('203.0.113.7')).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    const refused = await verify('203.0.113.7');
    expect(refused.status).toBe(429);
    const seconds = Number(refused.headers.get('retry-after'));
    expect(seconds).toBeGreaterThanOrEqual(1);
    expect(seconds).toBeLessThanOrEqual(20);
    const body = (await refused.json()) as { error: string; message: string };
    expect(body.error).toBe('too_many_requests');
    expect(body.message).toContain('1 分間');
    // Another address has its own budget.
    expect((await verify('203.0.113.8')).status).toBe(200);
  });

  test('the verification and share pages share one budget; the refusal is a page', async () => {
    const address = '198.51.100.20';
    const pages = [`${tool.url}/verify`, `${tool.url}/credentials/00000000-0000-4000-8000-000000000000`, `${tool.url}/verify`];
    for (const url of pages) expect((await fetch(url, { headers: from(address) })).status).not.toBe(429);
    const refused = await fetch(`${tool.url}/credentials/00000000-0000-4000-8000-000000000000`, { headers: from(address, { accept: 'text/html', 'accept-language': 'en' }) });
    expect(refused.status).toBe(429);
    expect(await refused.text()).toContain('Too many requests');
    // DID documents and status lists stay unlimited: verifiers elsewhere fetch them for every credential.
    for (let i = 0; i < 5; i++) expect((await fetch(`${tool.url}/issuers/default/did.json`, { headers: from(address) })).status).toBe(200);
  });

  test('Dynamic Registration attempts have their own, smaller budget', async () => {
    const address = '192.0.2.30';
    const attempt = () => fetch(`${tool.url}/register`, { headers: from(address) });
    // Without registration parameters the page explains what to paste into the LMS.
    expect((await attempt()).status).toBe(200);
    expect((await attempt()).status).toBe(200);
    expect((await attempt()).status).toBe(429);
    expect((await fetch(`${tool.url}/api/v1/verify`, { method: 'POST', headers: from(address, { 'content-type': 'application/json' }), body: '{}' })).status).toBe(200);
  });
});
