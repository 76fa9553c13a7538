/**
 * kill -9 during a bulk issuance, then a restart: the tool runs as a process of its own (with the
 * embedded database's process, in one process group that SIGKILL takes down whole), issuing the
 * awards of an autoIssue credential. Used by test/e2e/crash-safety.test.ts and `npm run bench`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { sql } from 'kysely';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { definitionSchema } from '../../src/credentials/definition-schema.js';
import { openDatabase, type Database } from '../../src/db/database.js';
import { createLogger } from '../../src/logger.js';
import { freePort } from './tool.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const PUBLIC_URL = 'https://badges.example.ac.jp';
const START_TIMEOUT_MS = 120_000;

const DEFINITION = definitionSchema.parse({
  name: '統計の基礎 / Foundations of Statistics', description: 'Issued without a claim to every learner a teacher approved.',
  criteriaNarrative: 'Approved by the course teacher.', language: 'en', version: '1', learningOutcomes: ['Compute descriptive statistics'],
  workloadHours: 10, eqfLevel: 4, assessmentTypes: ['test'], participation: 'online', qualityAssurance: 'Faculty curriculum committee',
  awardingBody: { name: 'Example University' }, awardingCountry: 'JP', autoIssue: true,
});

/** The tool started as `npm start` would, from the sources; its JSON log lines are kept. */
export class ToolProcess {
  readonly logs: Array<Record<string, unknown>> = [];
  private exited: Promise<void>;

  private constructor(private readonly child: ChildProcess) {
    let buffered = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) if (line.startsWith('{')) this.logs.push(JSON.parse(line) as Record<string, unknown>);
    });
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  /** Where it listens (it picks a free port). */
  get url(): string {
    return `http://127.0.0.1:${this.logs.find((l) => l.msg === 'tool listening')!.port as number}`;
  }

  static async start(env: Record<string, string>): Promise<ToolProcess> {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? '/tmp', NODE_ENV: 'test', PORT: String(await freePort()), PUBLIC_URL, LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so one SIGKILL ends the tool and the embedded database's process together.
      detached: true,
    });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString('utf8'); });
    const tool = new ToolProcess(child);
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!tool.logs.some((l) => l.msg === 'tool listening')) {
      if (child.exitCode !== null || Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`the tool did not start: ${stderr.slice(-2000)}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    return tool;
  }

  /** What `kill -9` does to the whole process group: no handler runs, nothing is flushed. */
  async kill9(): Promise<void> {
    process.kill(-this.child.pid!, 'SIGKILL');
    await this.exited;
    // The embedded database's process dies with the group, a moment after the tool.
    for (;;) {
      try {
        process.kill(-this.child.pid!, 0);
      } catch {
        return;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    await this.exited;
  }
}

/** A course with an autoIssue credential and `learners` staff awards none of which is issued yet. */
export async function seedAwards(database: Database, learners: number): Promise<{ credentialId: string }> {
  const db = database.db;
  const { id: contextRef } = await db.insertInto('lti_context').values({
    issuer: 'https://lms.example.ac.jp', client_id: 'crash-test', deployment_id: '1', context_id: 'STAT101', title: 'Statistics 101', label: 'STAT101', last_launch_at: new Date(),
  }).returning('id').executeTakeFirstOrThrow();
  const { id: credentialId } = await db.insertInto('credential').values({ context_ref: contextRef, current_revision: 1, created_by: 'teacher', copied_from: null }).returning('id').executeTakeFirstOrThrow();
  await db.insertInto('credential_revision').values({ credential_id: credentialId, revision: 1, definition: JSON.stringify(DEFINITION), criteria: JSON.stringify({ type: 'staffApproval' }), created_by: 'teacher' }).execute();
  for (let from = 0; from < learners; from += 1000) {
    const batch = Array.from({ length: Math.min(1000, learners - from) }, (_, i) => `learner-${from + i}`);
    await db.insertInto('award').values(batch.map((user_id) => ({ credential_id: credentialId, revision: 1, user_id, decision_id: null, awarded_by: 'teacher', note: 'approved', written_back_at: null, revoked_at: null }))).execute();
  }
  return { credentialId };
}

export interface IssuedCount {
  credentials: number;
  distinctAwards: number;
  distinctStatusBits: number;
  auditedIssues: number;
}

export async function countIssued(database: Database): Promise<IssuedCount> {
  const { rows } = await sql<{ credentials: number; distinct_awards: number; distinct_bits: number; audited: number }>`
    select count(*)::int as credentials,
           count(distinct (credential_id, revision, user_id))::int as distinct_awards,
           count(distinct (status_list_id, status_index))::int as distinct_bits,
           (select count(*)::int from audit_event where action = 'credential.issued') as audited
    from issued_credential`.execute(database.db);
  const r = rows[0]!;
  return { credentials: r.credentials, distinctAwards: r.distinct_awards, distinctStatusBits: r.distinct_bits, auditedIssues: r.audited };
}

export interface CrashRunResult {
  awards: number;
  /** What the killed process had finished, read before the restart. */
  atKill: IssuedCount;
  /** From the restarted tool's start to the last credential. */
  resumeMs: number;
  afterRestart: IssuedCount;
  /** A few credentials of each side of the kill, for a verifier to check. */
  sample: unknown[];
  restartedLogs: Array<Record<string, unknown>>;
}

/**
 * Seeds `awards` automatic awards, starts the tool, SIGKILLs its process group once at least
 * `killAfter` credentials are issued, starts it again and waits until every award is issued.
 * `env` is the database's (test/helpers/databases.ts). The restarted tool is returned running.
 */
export async function killDuringBulkIssuance(env: Record<string, string>, awards: number, killAfter: number, timeoutMs: number): Promise<CrashRunResult & { tool: ToolProcess }> {
  const logger = createLogger('error', process.stderr);
  const config = { databaseUrl: env.DATABASE_URL, dataDir: env.DATA_DIR! };
  const seeding = await openDatabase(config, logger);
  await seedAwards(seeding, awards);
  await seeding.close();

  const first = await ToolProcess.start(env);
  // With the embedded database this reaches the tool's own database process through its socket.
  let observer = await openDatabase(config, logger);
  const deadline = Date.now() + timeoutMs;
  while ((await countIssued(observer)).credentials < killAfter) {
    if (Date.now() > deadline) throw new Error(`fewer than ${killAfter} credentials issued in time`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await first.kill9();
  await observer.close().catch(() => undefined);
  // Opened on its own (embedded: the database process starts again from what the kill left).
  observer = await openDatabase(config, logger);
  const atKill = await countIssued(observer);
  await observer.close();

  const restartedAt = performance.now();
  const tool = await ToolProcess.start(env);
  observer = await openDatabase(config, logger);
  try {
    let count = await countIssued(observer);
    while (count.credentials < awards) {
      if (Date.now() > deadline) throw new Error(`only ${count.credentials} of ${awards} credentials issued after the restart`);
      await new Promise((r) => setTimeout(r, 100));
      count = await countIssued(observer);
    }
    const resumeMs = performance.now() - restartedAt;
    // Give a duplicate a chance to show: the run must be over, not merely caught up.
    while (!tool.logs.some((l) => l.msg === 'automatic issuance ran')) await new Promise((r) => setTimeout(r, 100));
    const afterRestart = await countIssued(observer);
    const sample = (await observer.db.selectFrom('issued_credential').select('document').orderBy('issued_at').execute())
      .filter((_, i, all) => i < 3 || i >= all.length - 3).map((r) => r.document);
    return { awards, atKill, resumeMs, afterRestart, sample, restartedLogs: tool.logs, tool };
  } finally {
    await observer.close();
  }
}
