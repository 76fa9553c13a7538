/**
 * `npm run bench:crash -- [awards]`: kill -9 during a bulk issuance of `awards` (default 10,000)
 * automatic awards, restart, and count: none may be lost or issued twice. On embedded PGlite, and
 * also on the PostgreSQL server at TEST_DATABASE_URL when set. Prints figures; exits 1 only when
 * the count is wrong.
 */
import { createTestDatabase, DATABASE_KINDS } from '../test/helpers/databases.js';
import { killDuringBulkIssuance } from '../test/helpers/bulk-issuance-crash.js';

const awards = Number(process.argv[2] ?? 10_000);
if (!Number.isInteger(awards) || awards < 10 || awards > 100_000) {
  console.error('awards must be an integer from 10 to 100000');
  process.exit(2);
}
const killAfter = Math.floor(awards * 0.3);
let wrong = false;
for (const kind of DATABASE_KINDS) {
  const target = await createTestDatabase(kind);
  try {
    const run = await killDuringBulkIssuance(target.env, awards, killAfter, 30 * 60_000);
    await run.tool.stop();
    const after = run.afterRestart;
    const lost = awards - after.distinctAwards;
    const duplicates = after.credentials - after.distinctAwards;
    const sharedBits = after.credentials - after.distinctStatusBits;
    const ran = run.restartedLogs.find((l) => l.msg === 'automatic issuance ran') as { issued: number; ms: number } | undefined;
    console.log(`${kind}: ${awards.toLocaleString('en-US')} automatic awards, killed (SIGKILL to the process group) at ${run.atKill.credentials.toLocaleString('en-US')} issued`);
    console.log(`  after the restart: ${after.credentials.toLocaleString('en-US')} credentials, lost ${lost}, issued twice ${duplicates}, sharing a status bit ${sharedBits}, audit entries ${after.auditedIssues.toLocaleString('en-US')}`);
    console.log(`  resumed: ${ran?.issued ?? '?'} issued by the restarted tool in ${((ran?.ms ?? NaN) / 1000).toFixed(1)} s (${ran ? (ran.issued / (ran.ms / 1000)).toFixed(0) : '?'}/s); restart to last credential ${(run.resumeMs / 1000).toFixed(1)} s`);
    if (lost || duplicates || sharedBits || after.auditedIssues !== awards) wrong = true;
  } finally {
    await target.dispose();
  }
}
console.log(wrong ? 'RESULT: WRONG COUNT' : 'RESULT: exactly once (0 lost, 0 duplicates)');
process.exit(wrong ? 1 : 0);
