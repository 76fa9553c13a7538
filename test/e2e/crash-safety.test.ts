import { createTestDatabase, DATABASE_KINDS, type TestDatabase } from '../helpers/databases.js';
import { killDuringBulkIssuance } from '../helpers/bulk-issuance-crash.js';

const AWARDS = 600;
const KILL_AFTER = 150;

describe.each(DATABASE_KINDS)('kill -9 during a bulk issuance, then a restart, on %s', (kind) => {
  let target: TestDatabase;
  beforeAll(async () => {
    target = await createTestDatabase(kind);
  });
  afterAll(async () => {
    await target.dispose();
  });

  test('every award is issued exactly once: none lost, none twice, each with its own status bit and audit entry, each valid', async () => {
    const run = await killDuringBulkIssuance(target.env, AWARDS, KILL_AFTER, 240_000);
    try {
      const killed = run.atKill.credentials;
      expect(killed).toBeGreaterThanOrEqual(KILL_AFTER);
      expect(killed).toBeLessThan(AWARDS);
      // Whatever the kill interrupted was not written at all.
      expect(run.atKill).toEqual({ credentials: killed, distinctAwards: killed, distinctStatusBits: killed, auditedIssues: killed });
      expect(run.afterRestart).toEqual({ credentials: AWARDS, distinctAwards: AWARDS, distinctStatusBits: AWARDS, auditedIssues: AWARDS });
      expect(run.restartedLogs).toContainEqual(expect.objectContaining({ msg: 'automatic issuance resumed', courses: 1 }));
      expect(run.restartedLogs).toContainEqual(expect.objectContaining({ msg: 'automatic issuance ran', pending: AWARDS - killed, issued: AWARDS - killed, failed: 0 }));

      for (const credential of run.sample) {
        const res = await fetch(`${run.tool.url}/api/v1/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(credential) });
        expect(((await res.json()) as { verdict: string }).verdict).toBe('valid');
      }
    } finally {
      await run.tool.stop();
    }
  }, 300_000);
});
