/**
 * Benchmark 1: criteria evaluation, in memory. 20,000 learners × 40 line items, the tree of
 * fixture.ts, compiled once; one warm-up pass, then the median of 5 timed passes.
 * Run alone (`npx tsx bench/criteria.ts`) it prints JSON; under run.ts it reports over IPC.
 */
import { performance } from 'node:perf_hooks';
import { reportToParent } from './child-report.js';
import { compileCriteria, parseCriteria, type Evaluation, type NodeProgress } from '../src/criteria/index.js';
import type { GradebookLineItem, GradebookResult, LearnerSnapshot } from '../src/gradebook/types.js';
import { COLUMNS, CRITERIA, learnerCells } from './fixture.js';

export const LEARNERS = 20_000;
const RUNS = 5;

export interface Variant {
  runsMs: number[];
  medianMs: number;
  learnersPerSecond: number;
}

export interface CriteriaBenchResult {
  learners: number;
  lineItems: number;
  /** judge(): the verdict and root progress, as a course run decides. The target applies here. */
  judged: Variant;
  /** evaluate(), each output dropped once made: the full explanation, as a page shows it for one learner. */
  discarded: Variant;
  /** Every evaluation kept until the pass ends: the allocation and GC cost of holding all outputs. */
  kept: Variant & { heapRetainedMiB: number };
  progressEntriesPerLearner: number;
  qualified: number;
  missingResults: number;
  nullScores: number;
}

function buildSnapshots(): { snapshots: LearnerSnapshot[]; missing: number; nulls: number } {
  const base = 'http://127.0.0.1:9/api/lti/courses/BENCH/line_items';
  const lineItems: GradebookLineItem[] = COLUMNS.map((c, i) => ({ id: `${base}/${i + 1}`, label: c.label, scoreMaximum: c.scoreMaximum, tag: c.tag }));
  const fetchedAt = '2026-10-01T09:00:00.000Z';
  let missing = 0;
  let nulls = 0;
  const snapshots = Array.from({ length: LEARNERS }, (_, n): LearnerSnapshot => {
    const results: Record<string, GradebookResult> = {};
    learnerCells(n).forEach((cell, i) => {
      const item = lineItems[i]!;
      if (cell.kind === 'missing') {
        missing++;
        return;
      }
      if (cell.kind === 'null') nulls++;
      results[item.id] = { lineItemId: item.id, score: cell.kind === 'score' ? cell.score : null, maximum: item.scoreMaximum };
    });
    // Every snapshot shares the one lineItems array, as learnerSnapshots() gives them.
    return { userId: `learner-${n}`, fetchedAt, lineItems, results, heldCredentials: [], staffApprovals: [] };
  });
  return { snapshots, missing, nulls };
}

function countEntries(p: NodeProgress): number {
  let n = 1;
  for (const c of p.children ?? []) n += countEntries(c);
  return n;
}

const gc = (globalThis as { gc?: () => void }).gc;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export async function runCriteriaBench(): Promise<CriteriaBenchResult> {
  const parsed = parseCriteria(CRITERIA);
  if (!parsed.ok) throw new Error(`benchmark criteria are invalid: ${JSON.stringify(parsed.errors)}`);
  const { snapshots, missing, nulls } = buildSnapshots();
  const compiled = compileCriteria(parsed.criteria);
  const now = new Date('2026-10-02T00:00:00Z');

  let judgedQualified = 0;
  const judgePass = (): number => {
    judgedQualified = 0;
    const start = performance.now();
    for (let i = 0; i < snapshots.length; i++) if (compiled.judge('bench-definition', snapshots[i]!).qualified) judgedQualified++;
    return performance.now() - start;
  };
  let qualified = 0;
  const dropPass = (): number => {
    qualified = 0;
    const start = performance.now();
    for (let i = 0; i < snapshots.length; i++) if (compiled.evaluate('bench-definition', snapshots[i]!, now).qualified) qualified++;
    return performance.now() - start;
  };
  let kept: Evaluation[] = [];
  const keepPass = (): number => {
    kept = new Array<Evaluation>(snapshots.length);
    const start = performance.now();
    for (let i = 0; i < snapshots.length; i++) kept[i] = compiled.evaluate('bench-definition', snapshots[i]!, now);
    return performance.now() - start;
  };
  // Each pass starts from a collected heap (with --expose-gc), so one pass's garbage is not billed to the next.
  const timed = (pass: () => number): Variant => {
    pass(); // warm-up
    const runsMs: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      kept = [];
      gc?.();
      runsMs.push(pass());
    }
    const medianMs = median(runsMs);
    return { runsMs, medianMs, learnersPerSecond: LEARNERS / (medianMs / 1000) };
  };

  const judged = timed(judgePass);
  const discarded = timed(dropPass);
  const keptVariant = timed(keepPass);
  // What the kept outputs of one pass hold on the heap.
  let heapRetainedMiB = Number.NaN;
  if (gc) {
    kept = [];
    gc();
    const before = process.memoryUsage().heapUsed;
    keepPass();
    gc();
    heapRetainedMiB = (process.memoryUsage().heapUsed - before) / 2 ** 20;
  }
  const entries = countEntries(kept[0]!.progress);
  const keptQualified = kept.filter((e) => e.qualified).length;
  if (keptQualified !== qualified || judgedQualified !== qualified) throw new Error(`the two passes disagree: ${judgedQualified}, ${qualified} and ${keptQualified} qualified`);
  return {
    learners: LEARNERS,
    lineItems: COLUMNS.length,
    judged,
    discarded,
    kept: { ...keptVariant, heapRetainedMiB },
    progressEntriesPerLearner: entries,
    qualified,
    missingResults: missing,
    nullScores: nulls,
  };
}

if (process.argv[1]?.endsWith('criteria.ts')) await reportToParent('criteria', runCriteriaBench);
