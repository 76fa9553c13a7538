/**
 * Benchmark 2: a full course sync. This process is the tool (real startTool, embedded PGlite in a
 * temporary DATA_DIR); the LMS is bench/lms-process.ts in a child process, so the memory measured
 * here is the tool's alone. Under run.ts it reports over IPC; alone it prints JSON.
 *
 *   npx tsx bench/sync.ts [learners] [budgetSeconds]
 *   BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres npx tsx bench/sync.ts   (a server instead of PGlite)
 */
import { fork, type ChildProcess } from 'node:child_process';
import { reportToParent } from './child-report.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { loadConfig } from '../src/config.js';
import { GradebookClient, GradebookClients } from '../src/gradebook/client.js';
import type { CourseGradebook } from '../src/gradebook/snapshot.js';
import { startTool, type RunningTool } from '../src/server.js';
import { LtiBrowser, parseAutoPostForm } from '../test/helpers/lti-client.js';
import { freePort, LogCapture } from '../test/helpers/tool.js';
import { CRITERIA, DEFINITION } from './fixture.js';
import { benchDatabase } from './pg-admin.js';
import type { ChildMessage, ParentMessage } from './lms-process.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const MiB = 2 ** 20;
const SAMPLE_MS = 50;

export interface SyncRun {
  ok: boolean;
  error?: string;
  wallMs: number;
  /** Time inside GradebookClient.fetchCourseGradebook (AGS + NRPS reads), measured by wrapping it. */
  gradebookReadMs: number;
  /** The rest: snapshots, evaluation, decisions and awards in the database. */
  decideMs: number;
  requests: number;
  learnersEvaluated: number;
  newAwards: number;
  decisionsInserted: number;
  /** Highest rss sampled every 50 ms during the run. */
  peakRssMiB: number;
  /** process.resourceUsage().maxRSS after the run: the process's peak so far. */
  maxRssMiB: number;
  peakHeapUsedMiB: number;
  /** Longest gap between two samples: how long the event loop was blocked at most. */
  longestStallMs: number;
  toolCpuMs: number;
  lmsCpuMs: number;
  /** The embedded database's own process (absent on a PostgreSQL server): peak rss sampled every 50 ms, and CPU. */
  database?: { peakRssMiB: number; cpuMs: number };
  storage: Storage;
}

/** What the decisions cost in the database after a run. */
export interface Storage {
  awardDecisionMiB: number;
  learnerGradebookMiB: number;
  learnerResultsMiB: number;
  /** Mean over a sample of decisions: the JSON text of its evidence, and what PostgreSQL stores (compressed). */
  decisionJsonKiB: number;
  decisionStoredKiB: number;
}

export interface SyncBenchResult {
  database: 'embedded PGlite' | 'PostgreSQL server';
  learners: number;
  lineItems: number;
  scores: number;
  nullScores: number;
  seedMs: number;
  startupMs: number;
  /** The tool's memory before the first sync: started, migrated, course and credential created. */
  baseline: { rssMiB: number; heapUsedMiB: number; externalMiB: number; arrayBuffersMiB: number };
  /** The embedded database process's rss before the first sync. */
  databaseBaselineRssMiB?: number;
  runs: SyncRun[];
  skipped?: string;
  warnings: string[];
}

/** rss and CPU of another process of this machine, from /proc (Linux). */
function processUsage(pid: number): { rssMiB: number; cpuMs: number } | undefined {
  try {
    const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // utime and stime, fields 14 and 15 of stat, in clock ticks (100 per second on Linux).
    const ticks = Number(fields[11]) + Number(fields[12]);
    return { rssMiB: rssKiB / 1024, cpuMs: ticks * 10 };
  } catch {
    return undefined;
  }
}

function memoryNow(): SyncBenchResult['baseline'] {
  const m = process.memoryUsage();
  return { rssMiB: m.rss / MiB, heapUsedMiB: m.heapUsed / MiB, externalMiB: m.external / MiB, arrayBuffersMiB: m.arrayBuffers / MiB };
}

class LmsChild {
  readonly proc: ChildProcess;
  private readonly waiting = new Map<ChildMessage['type'], (m: ChildMessage) => void>();
  private readonly rejects = new Set<(e: Error) => void>();
  private failure: Error | undefined;

  constructor() {
    // process.execArgv carries tsx's loader, so the child runs TypeScript too.
    // The tool's heap limit is the tool's: the LMS does not share it.
    const execArgv = process.execArgv.filter((a) => !a.startsWith('--max-old-space-size'));
    this.proc = fork(path.join(here, 'lms-process.ts'), ['0'], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.proc.on('message', (raw) => {
      const m = raw as ChildMessage;
      if (m.type === 'error') this.fail(new Error(`LMS process: ${m.message}`));
      this.waiting.get(m.type)?.(m);
      this.waiting.delete(m.type);
    });
    this.proc.on('exit', (code, signal) => this.fail(new Error(`LMS process exited (${signal ?? code})`)));
  }

  private fail(error: Error) {
    this.failure ??= error;
    for (const reject of this.rejects) reject(error);
    this.rejects.clear();
  }

  next<T extends ChildMessage['type']>(type: T, timeoutMs: number): Promise<Extract<ChildMessage, { type: T }>> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`LMS process: no "${type}" within ${timeoutMs} ms`)), timeoutMs).unref();
      const rejectOnce = (e: Error) => { clearTimeout(timer); reject(e); };
      this.rejects.add(rejectOnce);
      this.waiting.set(type, (m) => {
        clearTimeout(timer);
        this.rejects.delete(rejectOnce);
        resolve(m as Extract<ChildMessage, { type: T }>);
      });
    });
  }

  send(message: ParentMessage): void {
    if (this.proc.connected) this.proc.send(message);
  }

  async cpuMs(): Promise<number> {
    const reply = this.next('cpu', 10_000);
    this.send({ type: 'cpu' });
    const m = await reply;
    return m.userMs + m.systemMs;
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.proc.once('exit', () => resolve()));
    this.send({ type: 'stop' });
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}

/** Every step of a real teacher launch, from the LMS's launch page to the tool's page. */
async function teacherLaunch(launchUrl: string): Promise<number> {
  const browser = new LtiBrowser('ja');
  const launchPage = parseAutoPostForm(await (await fetch(launchUrl)).text());
  const login = await browser.fetch(launchPage.action, { form: launchPage.fields });
  const authUrl = login.headers.get('location');
  if (!authUrl) throw new Error(`login initiation answered ${login.status} without a redirect: ${(await login.text()).slice(0, 300)}`);
  const auth = parseAutoPostForm(await (await fetch(authUrl, { redirect: 'manual' })).text());
  const page = await browser.postLaunch(auth.action, auth.fields.id_token!, auth.fields.state!);
  return page.status;
}

export type Progress =
  | { type: 'dataDir'; dir: string }
  | { type: 'phase'; phase: string }
  | { type: 'lmsPid'; pid: number }
  | { type: 'database'; name: string }
  | { type: 'sample'; run: number; elapsedMs: number; readMs: number | undefined; peakRssMiB: number; maxRssMiB: number; toolCpuMs: number };

/**
 * With `postgresUrl` (an admin connection URL on 127.0.0.1), the tool uses a fresh database on that
 * server instead of the embedded PGlite, so its memory is measured without PGlite's.
 */
export async function runSyncBench(learners: number, budgetMs: number, progress: (p: Progress) => void = () => undefined, postgresUrl?: string): Promise<SyncBenchResult> {
  const deadline = performance.now() + budgetMs;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'microcred-bench-'));
  progress({ type: 'dataDir', dir: dataDir });
  const logs = new LogCapture();
  let tool: RunningTool | undefined;
  let lms: LmsChild | undefined;
  let dropDatabase: (() => Promise<void>) | undefined;
  try {
    const databaseEnv: Record<string, string> = {};
    if (postgresUrl) {
      const database = await benchDatabase(postgresUrl);
      progress({ type: 'database', name: database.name });
      dropDatabase = database.dispose;
      Object.assign(databaseEnv, database.env);
    }
    progress({ type: 'phase', phase: 'starting the tool and the LMS' });
    lms = new LmsChild();
    if (lms.proc.pid !== undefined) progress({ type: 'lmsPid', pid: lms.proc.pid });
    const started = lms.next('started', 60_000);
    started.catch(() => undefined); // awaited below; this only keeps an early failure from being unhandled
    const startupBegin = performance.now();
    const port = await freePort();
    const config = loadConfig({
      DATA_DIR: dataDir, PUBLIC_URL: `http://127.0.0.1:${port}`, PORT: String(port), LOG_LEVEL: 'warn', COURSE_SYNC_CRON: 'off', ...databaseEnv,
    });
    tool = await startTool(config, logs);
    const startupMs = performance.now() - startupBegin;
    await started;

    progress({ type: 'phase', phase: 'seeding the LMS' });
    const ready = lms.next('ready', 120_000);
    lms.send({ type: 'register', toolUrl: tool.url, learners });
    const lmsInfo = await ready;

    await tool.app.platforms.register({
      issuer: lmsInfo.url, clientId: lmsInfo.clientId, name: 'Canvas (benchmark)', authLoginUrl: lmsInfo.endpoints.authorization,
      tokenUrl: lmsInfo.endpoints.token, keysetUrl: lmsInfo.endpoints.jwks, deploymentIds: [lmsInfo.deploymentId],
      productFamily: 'canvas', source: 'cli', active: true,
    }, 'bench');
    progress({ type: 'phase', phase: 'teacher launch and credential' });
    const status = await teacherLaunch(lmsInfo.teacherLaunchUrl);
    if (status !== 200) throw new Error(`teacher launch answered ${status}`);
    const db = tool.database.db;
    const ctx = await db.selectFrom('lti_context').select(['id', 'issuer', 'client_id', 'ags_lineitems_url', 'nrps_memberships_url'])
      .where('issuer', '=', lmsInfo.url).where('client_id', '=', lmsInfo.clientId).executeTakeFirstOrThrow();
    if (!ctx.ags_lineitems_url || !ctx.nrps_memberships_url) throw new Error('the launch gave no AGS/NRPS endpoints');

    const lineItems = await new GradebookClients(tool.app.lti).forPlatform(ctx.issuer, ctx.client_id, 'canvas').listLineItems(ctx.ags_lineitems_url);
    const saved = await tool.app.definitions.create(
      { contextRef: ctx.id, issuer: ctx.issuer, clientId: ctx.client_id }, { definition: DEFINITION, criteria: CRITERIA }, lineItems, 'bench',
    );
    if (!saved.ok) throw new Error(`definition refused: ${JSON.stringify(saved.errors)}`);

    // Time the gradebook read inside the sync: every GradebookClient of this process, whichever the
    // awarding service uses, goes through the prototype's fetchCourseGradebook.
    let readMs = 0;
    let readDone: number | undefined;
    const proto = GradebookClient.prototype;
    const fetchCourseGradebook = proto.fetchCourseGradebook;
    proto.fetchCourseGradebook = async function timed(this: GradebookClient, query): Promise<CourseGradebook> {
      const t = performance.now();
      try {
        return await fetchCourseGradebook.call(this, query);
      } finally {
        readMs += performance.now() - t;
        readDone = readMs;
        progress({ type: 'phase', phase: `deciding (the gradebook read took ${Math.round(readMs / 1000)} s)` });
      }
    };

    const storage = async (): Promise<Storage> => {
      const sizes = (await sql<{ d: string; g: string; r: string }>`select pg_total_relation_size('award_decision') as d, pg_total_relation_size('learner_gradebook') as g,
        pg_total_relation_size('learner_results') as r`.execute(db)).rows[0]!;
      const row = (await sql<{ json: number | null; stored: number | null }>`
        select avg(octet_length(evidence::text))::float8 as json,
               avg(pg_column_size(evidence))::float8 as stored
        from (select evidence from award_decision order by id desc limit 200) s`.execute(db)).rows[0]!;
      return {
        awardDecisionMiB: Number(sizes.d) / MiB, learnerGradebookMiB: Number(sizes.g) / MiB, learnerResultsMiB: Number(sizes.r) / MiB,
        decisionJsonKiB: (row.json ?? 0) / 1024, decisionStoredKiB: (row.stored ?? 0) / 1024,
      };
    };
    const decisions = async () => (await sql<{ n: number }>`select count(*)::int as n from award_decision`.execute(db)).rows[0]!.n;
    const result: SyncBenchResult = {
      database: postgresUrl ? 'PostgreSQL server' : 'embedded PGlite',
      learners: lmsInfo.seeded.learners, lineItems: lmsInfo.seeded.lineItems, scores: lmsInfo.seeded.scores, nullScores: lmsInfo.seeded.nullScores,
      seedMs: lmsInfo.seeded.ms, startupMs, baseline: memoryNow(), runs: [], warnings: [],
    };
    const databasePid = tool.database.embeddedPid();
    const databaseUsage = () => (databasePid === undefined ? undefined : processUsage(databasePid));
    result.databaseBaselineRssMiB = databaseUsage()?.rssMiB;

    for (let run = 0; run < 2; run++) {
      const remaining = deadline - performance.now();
      const last = result.runs[run - 1];
      if (last && remaining < last.wallMs * 1.3 + 5_000) {
        result.skipped = `run ${run + 1} skipped: ${Math.round(remaining / 1000)} s of the time budget left, the previous run took ${Math.round(last.wallMs / 1000)} s`;
        break;
      }
      readMs = 0;
      readDone = undefined;
      const before = await decisions();
      const lmsCpuBefore = await lms.cpuMs();
      const cpuBefore = process.cpuUsage();
      let peakRss = 0;
      let peakHeap = 0;
      let databasePeakRss = 0;
      const databaseCpuBefore = databaseUsage()?.cpuMs;
      let lastSample = performance.now();
      let longestStall = 0;
      const sample = () => {
        const now = performance.now();
        longestStall = Math.max(longestStall, now - lastSample);
        lastSample = now;
        const m = process.memoryUsage();
        peakRss = Math.max(peakRss, m.rss);
        peakHeap = Math.max(peakHeap, m.heapUsed);
        databasePeakRss = Math.max(databasePeakRss, databaseUsage()?.rssMiB ?? 0);
      };
      sample();
      progress({ type: 'phase', phase: `sync run ${run + 1}` });
      const begin = performance.now();
      let ticks = 0;
      const sampler = setInterval(() => {
        sample();
        // Twice a second, tell the parent how far we got, in case the time budget runs out.
        if (++ticks % 10 === 0) progress({
          type: 'sample', run: run + 1, elapsedMs: performance.now() - begin, readMs: readDone, peakRssMiB: peakRss / MiB,
          maxRssMiB: process.resourceUsage().maxRSS / 1024, toolCpuMs: (process.cpuUsage(cpuBefore).user + process.cpuUsage(cpuBefore).system) / 1000,
        });
      }, SAMPLE_MS);
      let outcome;
      try {
        outcome = await tool.app.awarding.syncCourse(ctx.id, 'course_sync');
      } finally {
        clearInterval(sampler);
      }
      const wallMs = performance.now() - begin;
      sample();
      const cpu = process.cpuUsage(cpuBefore);
      const lmsCpuMs = (await lms.cpuMs()) - lmsCpuBefore;
      result.runs.push({
        ok: outcome.ok,
        ...(outcome.ok ? {} : { error: outcome.error }),
        wallMs,
        gradebookReadMs: readMs,
        decideMs: wallMs - readMs,
        requests: outcome.ok ? outcome.requests : 0,
        learnersEvaluated: outcome.ok ? outcome.learners : 0,
        newAwards: outcome.ok ? outcome.newAwards : 0,
        decisionsInserted: (await decisions()) - before,
        peakRssMiB: peakRss / MiB,
        maxRssMiB: process.resourceUsage().maxRSS / 1024,
        peakHeapUsedMiB: peakHeap / MiB,
        longestStallMs: longestStall,
        toolCpuMs: (cpu.user + cpu.system) / 1000,
        lmsCpuMs,
        ...(databaseCpuBefore === undefined ? {} : { database: { peakRssMiB: databasePeakRss, cpuMs: (databaseUsage()?.cpuMs ?? databaseCpuBefore) - databaseCpuBefore } }),
        storage: await storage(),
      });
      outcome = undefined;
      if (!result.runs.at(-1)!.ok) break;
    }
    result.warnings = logs.records().filter((r) => Number(r.level) >= 40).map((r) => String(r.msg)).slice(0, 10);
    return result;
  } finally {
    await tool?.stop().catch(() => undefined);
    await lms?.stop().catch(() => undefined);
    await dropDatabase?.().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (process.argv[1]?.endsWith('sync.ts')) {
  const learners = Number(process.argv[2] ?? 10_000);
  const budgetMs = Number(process.argv[3] ?? 150) * 1000;
  await reportToParent('sync', () => runSyncBench(learners, budgetMs, (p) => process.send?.(p), process.env.BENCH_POSTGRES_URL || undefined));
}
