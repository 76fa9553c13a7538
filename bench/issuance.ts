/**
 * Benchmark 3: issuing and verifying credentials. The full path is IssuanceService.claim (status
 * list index, build, sign on the worker pool, persist, audit) on embedded PGlite; beside it, the
 * raw vc.issue of the same payload, on one thread and on the same pool. Verification is the
 * verify API's core (every check) next to a raw vc.verifyCredential.
 *
 *   npx tsx bench/issuance.ts [credentials]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { reportToParent } from './child-report.js';
import { DEFINITION } from './fixture.js';
import { definitionSchema } from '../src/credentials/definition-schema.js';
import { openDatabase } from '../src/db/database.js';
import { createLogger } from '../src/logger.js';
import { buildOpenBadgeCredential, extensionContext } from '../src/issuance/credential.js';
import { IssuanceService } from '../src/issuance/issuance-service.js';
import { IssuerService } from '../src/issuance/issuers.js';
import { sealingKey } from '../src/issuance/keys.js';
import { SigningPool } from '../src/issuance/signing-pool.js';
import { signCredential, verifyProof } from '../src/issuance/signing.js';
import { statusListEntry } from '../src/issuance/status-list.js';
import { statusListIdOf } from '../src/issuance/status-lists.js';
import { verifyPresentedCredential } from '../src/issuance/verification.js';

const PUBLIC_URL = 'https://badges.example.ac.jp';
const CONCURRENCY = 32;

export interface IssuanceBenchResult {
  credentials: number;
  threads: number;
  rawOneThreadPerSecond: number;
  rawPoolPerSecond: number;
  fullPerSecond: number;
  fullMs: number;
  verifyRawPerSecond: number;
  verifyFullPerSecond: number;
  verified: number;
}

async function inParallel<T>(count: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(count);
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) {
      const i = next++;
      out[i] = await task(i);
    }
  }));
  return out;
}

const perSecond = (n: number, ms: number) => (n * 1000) / ms;

async function run(credentials: number): Promise<IssuanceBenchResult> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'bench-issuance-'));
  const database = await openDatabase({ databaseUrl: undefined, dataDir }, createLogger('warn', process.stderr));
  const threads = Math.min(4, os.availableParallelism());
  const extension = extensionContext(PUBLIC_URL);
  const pool = new SigningPool(threads, { [extension.url]: extension.document });
  try {
    const db = database.db;
    const issuers = new IssuerService(db, PUBLIC_URL, sealingKey('bench-installation-secret-0123456789abcdef'));
    const issuerRow = await issuers.ensureDefault('Bench University');
    const issuance = new IssuanceService(db, issuers, PUBLIC_URL, async (issuerId, unsigned) => pool.sign(unsigned, await (await issuers.currentKey(issuerId)).pair));
    const definition = definitionSchema.parse(DEFINITION);
    const { id: contextRef } = await db.insertInto('lti_context').values({
      issuer: 'https://lms.example', client_id: 'bench', deployment_id: '1', context_id: 'BENCH', title: 'Bench course', label: 'B', last_launch_at: new Date(),
    }).returning('id').executeTakeFirstOrThrow();
    const { id: credentialId } = await db.insertInto('credential').values({ context_ref: contextRef, current_revision: 1, created_by: 'bench', copied_from: null }).returning('id').executeTakeFirstOrThrow();
    await db.insertInto('credential_revision').values({ credential_id: credentialId, revision: 1, definition: JSON.stringify(definition), criteria: JSON.stringify({ type: 'staffApproval' }), created_by: 'bench' }).execute();
    const userIds = Array.from({ length: credentials }, (_, i) => `learner-${i}`);
    await db.insertInto('award').values(userIds.map((user_id) => ({ credential_id: credentialId, revision: 1, user_id, decision_id: null, awarded_by: 'bench', note: 'bench', written_back_at: null, revoked_at: null }))).execute();
    const course = { contextRef, issuer: 'https://lms.example', clientId: 'bench' };

    const key = await (await issuers.currentKey(issuerRow.id)).pair;
    const payload = (i: number) => buildOpenBadgeCredential({
      id: `urn:uuid:${crypto.randomUUID()}`, achievementId: issuance.achievementUrl(credentialId, 1), definition,
      issuer: issuers.profileOf(issuerRow), learner: { userId: `raw-${i}`, platformIssuer: course.issuer, email: `raw-${i}@example.ac.jp` },
      salt: 'bench-salt', course: { title: 'Bench course' }, activity: { endDate: new Date().toISOString() }, validFrom: new Date().toISOString(),
      extensionContextUrl: extension.url, credentialStatus: statusListEntry(`${PUBLIC_URL}/status/1`, i, 'revocation'),
    });
    const rawCount = Math.max(50, Math.floor(credentials / 4));
    // Warm-up: JSON-LD context caches, worker start-up, the JIT.
    await inParallel(threads * 8, CONCURRENCY, (i) => pool.sign(payload(i), key));
    for (let i = 0; i < 10; i++) await signCredential(payload(i), key, issuance.documentLoader);

    let t = performance.now();
    for (let i = 0; i < rawCount; i++) await signCredential(payload(i), key, issuance.documentLoader);
    const rawOneThreadPerSecond = perSecond(rawCount, performance.now() - t);

    t = performance.now();
    await inParallel(credentials, CONCURRENCY, (i) => pool.sign(payload(i), key));
    const rawPoolPerSecond = perSecond(credentials, performance.now() - t);

    t = performance.now();
    const issued = await inParallel(credentials, CONCURRENCY, (i) => issuance.claim(course, credentialId, userIds[i]!, { email: `${userIds[i]}@example.ac.jp` }));
    const fullMs = performance.now() - t;
    if (new Set(issued.map((r) => r.issued.id)).size !== credentials) throw new Error('claims did not give one credential each');

    const documents = issued.slice(0, rawCount).map((r) => r.issued.document);
    t = performance.now();
    for (const d of documents) if (!(await verifyProof(d, issuance.documentLoader)).verified) throw new Error('a credential did not verify');
    const verifyRawPerSecond = perSecond(documents.length, performance.now() - t);
    const deps = {
      documentLoader: issuance.documentLoader, ownContexts: new Set([extension.url]),
      canResolveIssuer: async (did: string) => did === issuers.profileOf(issuerRow).id,
      statusOf: async (url: string, index: number) => issuance.statusLists.isRevoked(statusListIdOf(PUBLIC_URL, url)!, index),
    };
    t = performance.now();
    let verified = 0;
    for (const d of documents) if ((await verifyPresentedCredential(d, deps)).verdict === 'valid') verified += 1;
    const verifyFullPerSecond = perSecond(documents.length, performance.now() - t);

    return { credentials, threads, rawOneThreadPerSecond, rawPoolPerSecond, fullPerSecond: perSecond(credentials, fullMs), fullMs, verifyRawPerSecond, verifyFullPerSecond, verified };
  } finally {
    await pool.close();
    await database.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await reportToParent('issuance', () => run(Number(process.argv[2] ?? 1000)));
