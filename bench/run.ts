/**
 * `npm run bench`: runs each benchmark in its own process (so neither's heap nor peak RSS leaks into
 * the other's figures), prints one table, and exits 0. A benchmark reports; it does not fail the
 * build. Everything stops within TOTAL_BUDGET_MS; only 127.0.0.1 is used.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { CriteriaBenchResult } from './criteria.js';
import { adminQuery } from './pg-admin.js';
import type { IssuanceBenchResult } from './issuance.js';
import type { LaunchBenchResult } from './launches.js';
import type { Progress, SyncBenchResult, SyncRun } from './sync.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** `npm run bench -- --budget 600 --learners 10000`: a longer budget lets a slow sync finish both runs. */
function option(name: string, fallback: number, min: number, max: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const value = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(value) || value < min || value > max) {
    console.error(`--${name} must be an integer from ${min} to ${max}`);
    process.exit(2);
  }
  return value;
}
const TOTAL_BUDGET_MS = option('budget', 300, 60, 1800) * 1000;
const SYNC_LEARNERS = option('learners', 10_000, 10, 50_000);
/** `--postgres <admin url>`: the sync's tool uses a fresh database on that server (127.0.0.1 only) instead of PGlite. */
const POSTGRES_URL = (() => {
  const i = process.argv.indexOf('--postgres');
  if (i < 0) return undefined;
  const url = process.argv[i + 1] ?? '';
  if (!URL.canParse(url) || !/^postgres(ql)?:$/.test(new URL(url).protocol) || new URL(url).hostname !== '127.0.0.1') {
    console.error('--postgres needs a postgres:// URL on 127.0.0.1, e.g. postgres://postgres@127.0.0.1:5432/postgres');
    process.exit(2);
  }
  return url;
})();
const CRITERIA_TIMEOUT_MS = 90_000;
const ISSUANCE_TIMEOUT_MS = 60_000;
const LAUNCHES_TIMEOUT_MS = 90_000;
const ISSUANCE_CREDENTIALS = option('credentials', 400, 50, 100_000);
const EXIT_MARGIN_MS = 5_000;

const TARGETS = { criteriaMs: 1_000, syncMs: 20_000, syncRssMiB: 512, issuedPerSecond: 1_000, issuedVsRaw: 0.6, launchP95Ms: 150 };

/** The tool's V8 heap limit, as `npm start` (and the Dockerfile) set it: the sync's tool runs as deployed. */
const TOOL_HEAP_MIB = (() => {
  const start = (JSON.parse(readFileSync(path.join(here, '..', 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.start ?? '';
  const mib = /--max-old-space-size=(\d+)/.exec(start)?.[1];
  if (!mib) throw new Error('package.json\'s start script sets no --max-old-space-size');
  return Number(mib);
})();

const t0 = performance.now();
const elapsed = () => performance.now() - t0;

interface ChildOutcome<T> {
  result?: T;
  error?: string;
  timedOut: boolean;
  progress: Progress[];
}

/** Forks a benchmark script, collects its IPC messages, and kills it at the deadline (its LMS child is ended after). */
function runChild<T>(script: string, args: string[], resultType: string, timeoutMs: number, extraExecArgv: string[] = [], env: NodeJS.ProcessEnv = process.env): Promise<ChildOutcome<T>> {
  return new Promise((resolve) => {
    const outcome: ChildOutcome<T> = { timedOut: false, progress: [] };
    const child: ChildProcess = fork(path.join(here, script), args, {
      execArgv: [...process.execArgv, ...extraExecArgv],
      env,
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString('utf8')).slice(-4000); });
    child.on('message', (raw) => {
      const m = raw as { type: string; result?: T; message?: string };
      if (m.type === resultType) outcome.result = m.result;
      else if (m.type === 'error') outcome.error = m.message;
      else outcome.progress.push(raw as Progress);
    });
    const timer = setTimeout(() => {
      outcome.timedOut = true;
      // The LMS grandchild leaves by itself when its parent's IPC channel closes.
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (!outcome.result && !outcome.error && !outcome.timedOut) {
        outcome.error = `exited with ${signal ?? code}: ${stderr.split('\n').filter((l) => l && !/ExperimentalWarning|MaxListeners|trace-warnings|npm warn/.test(l)).slice(-8).join('\n')}`;
      }
      resolve(outcome);
    });
  });
}

// ---------------------------------------------------------------- formatting

const fmtMs = (ms: number) => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`);
const fmtMiB = (mib: number) => `${Math.round(mib)} MiB`;
const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');

type Cells = [string, string, string, string, string];
type Line = { kind: 'section'; title: string } | { kind: 'row'; cells: Cells } | { kind: 'info'; text: string };
const lines: Line[] = [];
const section = (title: string) => lines.push({ kind: 'section', title });
/**
 * A measured figure against an upper bound: measured, target, measured/target, PASS when below 1.
 * Without a value, `atLeast` (a lower bound, e.g. the time a stopped run had already taken) still gives a ratio.
 */
function target(name: string, value: number | undefined, bound: number, fmt: (v: number) => string, missing = 'not measured', atLeast?: number, partial = false) {
  if (value !== undefined && Number.isFinite(value)) {
    const ratio = value / bound;
    // A peak of a run that did not finish can only prove a MISS.
    lines.push({ kind: 'row', cells: [name, fmt(value), `< ${fmt(bound)}`, ratio.toFixed(2), ratio >= 1 ? 'MISS' : partial ? '?' : 'PASS'] });
  } else if (atLeast !== undefined) {
    const ratio = atLeast / bound;
    lines.push({ kind: 'row', cells: [name, `> ${fmt(atLeast)}`, `< ${fmt(bound)}`, `> ${ratio.toFixed(2)}`, ratio >= 1 ? 'MISS' : '?'] });
  } else {
    lines.push({ kind: 'row', cells: [name, missing, `< ${fmt(bound)}`, '—', 'MISS'] });
  }
}
/** A measured figure against a lower bound: PASS when measured/target is at least 1. */
function floor(name: string, value: number | undefined, bound: number, fmt: (v: number) => string, missing = 'not measured') {
  if (value === undefined || !Number.isFinite(value)) {
    lines.push({ kind: 'row', cells: [name, missing, `≥ ${fmt(bound)}`, '—', 'MISS'] });
    return;
  }
  const ratio = value / bound;
  lines.push({ kind: 'row', cells: [name, fmt(value), `≥ ${fmt(bound)}`, ratio.toFixed(2), ratio >= 1 ? 'PASS' : 'MISS'] });
}
/** Figures without a target, printed under the rows. */
const info = (text: string) => lines.push({ kind: 'info', text });

function printTable() {
  const header: Cells = ['Figure', 'Measured', 'Target', 'Ratio', 'Result'];
  const rows = [header, ...lines.flatMap((l) => (l.kind === 'row' ? [l.cells] : []))];
  const len = (s: string) => [...s].length;
  const widths = header.map((_, i) => Math.max(...rows.map((r) => len(r[i]!))));
  const fmt = (r: Cells) => r.map((c, i) => (i === 1 || i === 3 ? ' '.repeat(widths[i]! - len(c)) + c : c + ' '.repeat(widths[i]! - len(c)))).join('  ').trimEnd();
  console.log(fmt(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const l of lines) {
    if (l.kind === 'section') console.log(`${l.title}`);
    else if (l.kind === 'row') console.log(fmt(l.cells));
    else console.log(`    ${l.text}`);
  }
}

// ---------------------------------------------------------------- main

const cpus = os.cpus();
console.log(`Machine: ${cpus[0]?.model.trim() ?? 'unknown CPU'} × ${cpus.length} cores, ${fmtMiB(os.totalmem() / 2 ** 20)} RAM, ` +
  `Node ${process.version}, ${os.type()} ${os.release()}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
console.log(`Running: criteria evaluation (in memory), issuing and verifying credentials, launches and verification under load, then a ${fmtInt(SYNC_LEARNERS)}-learner course sync against the Canvas-flavoured emulator (child process). Time budget ${TOTAL_BUDGET_MS / 1000} s (--budget).`);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

let criteria: ChildOutcome<CriteriaBenchResult> | undefined;
let issuance: ChildOutcome<IssuanceBenchResult> | undefined;
let sync: ChildOutcome<SyncBenchResult> | undefined;
let launches: ChildOutcome<LaunchBenchResult> | undefined;
try {
  criteria = await runChild<CriteriaBenchResult>('criteria.ts', [], 'criteria', CRITERIA_TIMEOUT_MS, ['--expose-gc']);
  issuance = await runChild<IssuanceBenchResult>('issuance.ts', [String(ISSUANCE_CREDENTIALS)], 'issuance', ISSUANCE_TIMEOUT_MS);
  launches = await runChild<LaunchBenchResult>('launches.ts', [], 'launches', LAUNCHES_TIMEOUT_MS, [], { ...process.env, BENCH_POSTGRES_URL: POSTGRES_URL ?? '' });
  const syncBudget = TOTAL_BUDGET_MS - elapsed() - EXIT_MARGIN_MS;
  // The sync child plans its second run within (its budget − time to stop); we kill it at the budget.
  sync = await runChild<SyncBenchResult>('sync.ts', [String(SYNC_LEARNERS), String(Math.floor((syncBudget - 10_000) / 1000))], 'sync', syncBudget, [`--max-old-space-size=${TOOL_HEAP_MIB}`],
    { ...process.env, BENCH_POSTGRES_URL: POSTGRES_URL ?? '' });
} finally {
  // sync.ts stops its LMS and removes its data dir itself; this covers a child killed at the deadline.
  for (const p of sync?.progress ?? []) {
    if (p.type === 'lmsPid' && alive(p.pid)) {
      process.kill(p.pid, 'SIGTERM');
      for (let i = 0; i < 20 && alive(p.pid); i++) await new Promise((r) => setTimeout(r, 100));
      if (alive(p.pid)) process.kill(p.pid, 'SIGKILL');
    }
    if (p.type === 'dataDir') rmSync(p.dir, { recursive: true, force: true });
    if (p.type === 'database' && POSTGRES_URL && /^microcred_bench_[0-9a-f]+$/.test(p.name)) {
      await adminQuery(POSTGRES_URL, `DROP DATABASE IF EXISTS ${p.name} WITH (FORCE)`).catch(() => undefined);
    }
  }
}

section('1. Criteria evaluation: 20,000 learners × 40 line items, median of 5 after a warm-up');
if (criteria.result) {
  const c = criteria.result;
  target('  judge all (verdict and progress, as a course run)', c.judged.medianMs, TARGETS.criteriaMs, fmtMs);
  info(`with the full explanation (as a page shows one learner), each dropped: ${fmtMs(c.discarded.medianMs)}; all kept in memory at once: ${fmtMs(c.kept.medianMs)}`);
  info(`learners/s: ${fmtInt(c.judged.learnersPerSecond)} judged, ${fmtInt(c.discarded.learnersPerSecond)} explained, ${fmtInt(c.kept.learnersPerSecond)} explained and kept`);
  info(`kept outputs hold ${fmtMiB(c.kept.heapRetainedMiB)} of heap: ${(c.kept.heapRetainedMiB * 1024 / c.learners).toFixed(1)} KiB per learner, ${c.progressEntriesPerLearner} progress entries each`);
  info(`passes judged: ${c.judged.runsMs.map(fmtMs).join(', ')}; explained: ${c.discarded.runsMs.map(fmtMs).join(', ')}; kept: ${c.kept.runsMs.map(fmtMs).join(', ')}`);
  info(`${fmtInt(c.qualified)} of ${fmtInt(c.learners)} qualify; ${fmtInt(c.missingResults)} missing results, ${fmtInt(c.nullScores)} null scores`);
} else {
  target('  evaluate all learners', undefined, TARGETS.criteriaMs, fmtMs, criteria.timedOut ? `> ${fmtMs(CRITERIA_TIMEOUT_MS)}` : 'failed');
  if (criteria.error) info(`error: ${criteria.error.split('\n')[0]!}`);
}

section(`2. Full course sync: ${fmtInt(SYNC_LEARNERS)} learners × 40 line items, Canvas-flavoured emulator in a child process, ${POSTGRES_URL ? 'PostgreSQL server' : 'embedded PGlite'}, tool heap limit ${TOOL_HEAP_MIB} MiB as npm start`);
if (sync.result) {
  const s = sync.result;
  info(`course: ${fmtInt(s.learners)} learners, ${s.lineItems} line items, ${fmtInt(s.scores)} results (${fmtInt(s.nullScores)} without a score), seeded in ${fmtMs(s.seedMs)}`);
  info(`tool before the sync: rss ${fmtMiB(s.baseline.rssMiB)}: V8 heap ${fmtMiB(s.baseline.heapUsedMiB)}, external ${fmtMiB(s.baseline.externalMiB)}; started in ${fmtMs(s.startupMs)}`
    + (s.databaseBaselineRssMiB === undefined ? '' : `; the embedded database's own process: rss ${fmtMiB(s.databaseBaselineRssMiB)}`));
  s.runs.forEach((r: SyncRun, i) => {
    const label = i === 0 ? 'run 1' : `run ${i + 1}`;
    target(`  ${label}: wall time${r.ok ? '' : ` (failed: ${r.error})`}`, r.wallMs, TARGETS.syncMs, fmtMs);
    target(`  ${label}: tool peak RSS, 50 ms samples`, r.peakRssMiB, TARGETS.syncRssMiB, fmtMiB);
    target(`  ${label}: tool maxRSS, resourceUsage`, r.maxRssMiB, TARGETS.syncRssMiB, fmtMiB);
    if (r.database) info(`the embedded database's own process (like a PostgreSQL server, not the tool's): peak rss ${fmtMiB(r.database.peakRssMiB)}, CPU ${fmtMs(r.database.cpuMs)}; tool + database peak ${fmtMiB(r.peakRssMiB + r.database.peakRssMiB)} at most`);
    info(`${fmtInt(r.requests)} LMS requests, ${fmtInt(r.learnersEvaluated)} learners evaluated, ${fmtInt(r.newAwards)} new awards, ${fmtInt(r.decisionsInserted)} decisions inserted`);
    info(`gradebook read ${fmtMs(r.gradebookReadMs)}, the rest (snapshots, judging, database) ${fmtMs(r.decideMs)}; CPU: tool ${fmtMs(r.toolCpuMs)}, LMS process ${fmtMs(r.lmsCpuMs)}`);
    info(`peak V8 heap ${fmtMiB(r.peakHeapUsedMiB)}; longest event-loop stall ${fmtMs(r.longestStallMs)}`);
    info(`award_decision ${fmtMiB(r.storage.awardDecisionMiB)}, learner_gradebook ${fmtMiB(r.storage.learnerGradebookMiB)}, learner_results ${fmtMiB(r.storage.learnerResultsMiB)}; a decision's own evidence: ${r.storage.decisionJsonKiB.toFixed(1)} KiB of JSON, ${r.storage.decisionStoredKiB.toFixed(1)} KiB stored`);
  });
  if (s.skipped) info(`note: ${s.skipped}`);
  if (s.warnings.length) info(`tool warnings: ${s.warnings.join('; ')}`);
} else {
  const phases = sync.progress.filter((p): p is Extract<Progress, { type: 'phase' }> => p.type === 'phase');
  const samples = sync.progress.filter((p): p is Extract<Progress, { type: 'sample' }> => p.type === 'sample');
  const last = samples.at(-1);
  const where = phases.at(-1)?.phase ?? 'start-up';
  const why = sync.timedOut ? `stopped at the time budget during "${where}"` : `failed during "${where}"`;
  if (last) {
    target(`  run ${last.run}: wall time (stopped)`, undefined, TARGETS.syncMs, fmtMs, undefined, last.elapsedMs);
    target(`  run ${last.run}: peak RSS so far`, last.peakRssMiB, TARGETS.syncRssMiB, fmtMiB, undefined, undefined, true);
    target(`  run ${last.run}: maxRSS so far`, last.maxRssMiB, TARGETS.syncRssMiB, fmtMiB, undefined, undefined, true);
    info(why);
    info(`gradebook read: ${last.readMs === undefined ? `not finished after ${fmtMs(last.elapsedMs)}` : fmtMs(last.readMs)}; tool CPU so far ${fmtMs(last.toolCpuMs)}`);
  } else {
    target('  sync wall time', undefined, TARGETS.syncMs, fmtMs, why);
  }
  if (sync.error) info(`error: ${sync.error.split('\n').slice(0, 3).join(' | ')}`);
}

section(`3. Issuing and verifying credentials: ${fmtInt(ISSUANCE_CREDENTIALS)} claims, ${issuance.result?.threads ?? '?'} signing threads, embedded PGlite`);
if (issuance.result) {
  const r = issuance.result;
  const perSecond = (v: number) => `${v.toFixed(0)}/s`;
  floor('  issued/s, full (status entry, signed, persisted)', r.fullPerSecond, TARGETS.issuedPerSecond, perSecond);
  floor('  full vs raw vc.issue on the same threads', r.fullPerSecond / r.rawPoolPerSecond, TARGETS.issuedVsRaw, (v) => `${v.toFixed(2)}×`);
  info(`raw vc.issue of the same payload: ${perSecond(r.rawOneThreadPerSecond)} on one thread, ${perSecond(r.rawPoolPerSecond)} on ${r.threads} worker threads; full: ${fmtInt(r.credentials)} claims in ${fmtMs(r.fullMs)}`);
  info(`verifications/s, one thread: ${perSecond(r.verifyFullPerSecond)} with every check (schema, issuer, proof, status, dates), ${perSecond(r.verifyRawPerSecond)} for the raw vc.verifyCredential: ratio ${(r.verifyFullPerSecond / r.verifyRawPerSecond).toFixed(2)}×; ${r.verified} verified valid`);
} else {
  floor('  issued/s, full', undefined, TARGETS.issuedPerSecond, (v) => `${v}`, issuance.timedOut ? `> ${fmtMs(ISSUANCE_TIMEOUT_MS)}` : 'failed');
  if (issuance.error) info(`error: ${issuance.error.split('\n').slice(0, 3).join(' | ')}`);
}

section(`4. Launches and verification under load: tool and Moodle-flavoured emulator in one process, ${POSTGRES_URL ? 'PostgreSQL server' : 'embedded PGlite'}`);
if (launches.result) {
  const l = launches.result;
  target(`  launch p95, ${l.concurrency} at once (the tool's time, less its wait on the LMS)`, l.p95Ms, TARGETS.launchP95Ms, fmtMs);
  info(`p50 ${fmtMs(l.p50Ms)}; ${fmtInt(l.launches)} launches in rounds of ${l.concurrency} distinct learners after a warm-up round, ${l.failures} failed${l.failureReasons.length ? ` (${l.failureReasons.join('; ')})` : ''}`);
  info(`with the LMS's part (each learner's results, read before the page; Server-Timing "lms"): p50 ${fmtMs(l.wallP50Ms)}, p95 ${fmtMs(l.wallP95Ms)}; the LMS's part alone: p50 ${fmtMs(l.lmsP50Ms)}, p95 ${fmtMs(l.lmsP95Ms)}`);
  info(`one launch at a time: ${fmtMs(l.aloneP50Ms)} (median); ${l.concurrency} at once queue on the tool's one event loop, which the in-process emulator shares`);
  info(`verification, ${l.verify.concurrency} clients for ${l.verify.seconds} s: ${fmtInt(l.verify.requests)} requests (${l.verify.perSecond.toFixed(0)}/s), p50 ${fmtMs(l.verify.p50Ms)}, p95 ${fmtMs(l.verify.p95Ms)}, ${l.verify.errors} errors`);
} else {
  target('  launch p95', undefined, TARGETS.launchP95Ms, fmtMs, launches.timedOut ? `> ${fmtMs(LAUNCHES_TIMEOUT_MS)}` : 'failed');
  if (launches.error) info(`error: ${launches.error.split('\n').slice(0, 3).join(' | ')}`);
}

console.log('');
printTable();
console.log(`\nTotal ${fmtMs(elapsed())}. Benchmarks report; they do not fail the build.`);
process.exit(0);
