import type { GradebookLineItem, GradebookResult, LearnerSnapshot } from '../gradebook/types.js';
import { reason, type Reason } from './reason.js';
import { ROOT_ID, type CompletionNode, type Criteria, type CriteriaNode, type NodeLabel, type ScoreNode, type Selector, type TimeWindow } from './schema.js';
import { compileSelector, type CompiledSelector } from './selector.js';

/**
 * Evaluation: a pure, total function of (criteria, definition id, learner snapshot). It reads no
 * clock and no i18n; reasons come back as keys with parameters (see reason.ts).
 */

export interface NodeProgress {
  /** The node's own id, else its path from the root such as "root.children.1". */
  id: string;
  /** The node type, or "lineItem" / "unmatched" for the per-column entries of a leaf. */
  type: string;
  satisfied: boolean;
  /** 0..1; exactly 1 when, and only when, satisfied. */
  progress: number;
  /** The numbers behind the verdict. */
  detail: Record<string, number | string | null>;
  reason: Reason;
  label?: NodeLabel;
  children?: NodeProgress[];
}

export interface Evaluation {
  qualified: boolean;
  progress: NodeProgress;
  evaluatedAt: string;
}

/** The verdict alone: what a course run decides on. The explanation is rebuilt from the evidence when shown. */
export interface Verdict {
  qualified: boolean;
  /** The root node's progress, 0..1. */
  progress: number;
}

export interface CompiledCriteria {
  evaluate(definitionId: string, snapshot: LearnerSnapshot, now?: Date): Evaluation;
  /** Exactly evaluate()'s qualified and progress.progress, without building the explanation. */
  judge(definitionId: string, snapshot: LearnerSnapshot): Verdict;
}

/** What one learner's evaluation reads: the snapshot and, per selector, the line items it matched. */
interface Learner {
  snapshot: LearnerSnapshot;
  definitionId: string;
  matches: ReadonlyArray<readonly GradebookLineItem[]>;
  /**
   * false for judge(): nodes then skip details, reasons and per-column children, and parents read
   * only `satisfied` and `progress`. The numbers come from the same code either way.
   */
  explain: boolean;
}

type NodeEvaluator = (learner: Learner) => NodeProgress;

/** A result as evaluation counts it. */
interface Reading {
  item: GradebookLineItem;
  result: GradebookResult | undefined;
  /** Finite and at least 0; null when not graded or not attempted. */
  score: number | null;
  /** The maximum the score is on; 0 when neither the result nor the line item gives a positive one. */
  maximum: number;
  /** 0 without a score. */
  percent: number;
}

interface ItemVerdict {
  satisfied: boolean;
  progress: number;
  reason: Reason;
}

/** Stands in for details and reasons when judging without an explanation; never leaves this module. */
const UNEXPLAINED: Reason = Object.freeze({ key: 'criteria.reason.noResults', params: Object.freeze({}) }) as Reason;
const NO_DETAIL: NodeProgress['detail'] = Object.freeze({});

// An unmet requirement never shows as complete, even when a mean or ratio rounds up to 1.
const BELOW_ONE = 1 - Number.EPSILON / 2;

function progressOf(satisfied: boolean, ratio: number): number {
  if (satisfied) return 1;
  return ratio > 0 ? Math.min(ratio, BELOW_ONE) : 0;
}

/** Scores past the double range (a misbehaving LMS) stay the largest finite number, not Infinity. */
function finite(value: number): number {
  return Number.isFinite(value) ? value : Number.MAX_VALUE;
}

/** Truncates for display, so a shown value never reaches a threshold the real one misses. */
function shown(value: number, digits: number): number {
  const scale = 10 ** digits;
  const scaled = Math.floor(value * scale + 1e-9);
  return Number.isFinite(scaled) ? scaled / scale : value;
}

function mean(values: readonly number[]): number {
  let sum = 0;
  for (const v of values) sum += v;
  return values.length ? sum / values.length : 0;
}

function positive(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : 0;
}

function resultOf(snapshot: LearnerSnapshot, lineItemId: string): GradebookResult | undefined {
  // Own properties only: a line item id such as "constructor" must not find Object.prototype's.
  return Object.hasOwn(snapshot.results, lineItemId) ? snapshot.results[lineItemId] : undefined;
}

/**
 * Non-finite scores count as no score and negative ones as 0. Without a positive maximum, any
 * positive score is 100% and anything else 0%, so nothing divides by zero.
 */
function read(item: GradebookLineItem, snapshot: LearnerSnapshot): Reading {
  const result = resultOf(snapshot, item.id);
  const raw = result?.score;
  const score = typeof raw === 'number' && Number.isFinite(raw) ? Math.max(0, raw) : null;
  const maximum = positive(result?.maximum) || positive(item.scoreMaximum);
  const percent = score === null ? 0 : maximum > 0 ? finite((score * 100) / maximum) : score > 0 ? 100 : 0;
  return { item, result, score, maximum, percent };
}

function readingDetail(r: Reading): Record<string, number | string | null> {
  return {
    lineItemId: r.item.id,
    label: r.item.label,
    score: r.score,
    maximum: r.maximum,
    percent: r.score === null ? null : r.percent,
    activityProgress: r.result?.activityProgress ?? null,
    gradingProgress: r.result?.gradingProgress ?? null,
    timestamp: r.result?.timestamp ?? null,
  };
}

function scoreParams(r: Reading): Record<string, string | number> {
  return { label: r.item.label, score: shown(r.score ?? 0, 2), maximum: shown(r.maximum, 2), percent: shown(r.percent, 1) };
}

// A result without progress fields counts as Completed and FullyGraded once it has a score.
function isCompleted(r: Reading): boolean {
  return r.result?.activityProgress === 'Completed' || (r.result?.activityProgress === undefined && r.score !== null);
}

function isFullyGraded(r: Reading): boolean {
  return r.result?.gradingProgress === 'FullyGraded' || (r.result?.gradingProgress === undefined && r.score !== null);
}

interface CompiledWindow {
  fromMs: number;
  toMs: number;
  from: string | undefined;
  to: string | undefined;
}

function compileWindow(window: TimeWindow | undefined): CompiledWindow | undefined {
  if (!window) return undefined;
  const fromMs = window.from === undefined ? -Infinity : Date.parse(window.from);
  const toMs = window.to === undefined ? Infinity : Date.parse(window.to);
  return { fromMs: Number.isNaN(fromMs) ? -Infinity : fromMs, toMs: Number.isNaN(toMs) ? Infinity : toMs, from: window.from, to: window.to };
}

interface Gate {
  window: CompiledWindow | undefined;
  completed: boolean;
  fullyGraded: boolean;
}

/** Why an attempted result does not count for a leaf: outside its window, or not yet in the state it needs. */
function barrier(gate: Gate, r: Reading): Reason | undefined {
  const label = r.item.label;
  if (gate.window) {
    const { fromMs, toMs, from, to } = gate.window;
    const scoredAt = r.result?.timestamp;
    const at = typeof scoredAt === 'string' ? Date.parse(scoredAt) : NaN;
    if (scoredAt === undefined || Number.isNaN(at)) return reason('criteria.reason.scoreTimeUnknown', { label });
    if (at < fromMs && from !== undefined) return reason('criteria.reason.scoredBeforeWindow', { label, scoredAt, fromAt: from });
    if (at > toMs && to !== undefined) return reason('criteria.reason.scoredAfterWindow', { label, scoredAt, toAt: to });
  }
  if (gate.completed && !isCompleted(r)) return reason('criteria.reason.notCompleted', { label });
  if (gate.fullyGraded && !isFullyGraded(r)) return reason('criteria.reason.notFullyGraded', { label });
  return undefined;
}

const unmet = (why: Reason): ItemVerdict => ({ satisfied: false, progress: 0, reason: why });
const UNMET_UNEXPLAINED: ItemVerdict = Object.freeze(unmet(UNEXPLAINED));
const MET_UNEXPLAINED: ItemVerdict = Object.freeze({ satisfied: true, progress: 1, reason: UNEXPLAINED });

type ItemJudge = (r: Reading, explain: boolean) => ItemVerdict;

function compileScoreJudge(node: ScoreNode): { judge: ItemJudge; detail: Record<string, number | string> } {
  const gate: Gate = { window: compileWindow(node.window), completed: node.requireCompleted === true, fullyGraded: node.requireFullyGraded === true };
  const byPercent = node.minPercent !== undefined;
  const required = node.minPercent ?? node.minPoints ?? 0;
  const judge: ItemJudge = (r, explain) => {
    const label = r.item.label;
    if (!r.result) return explain ? unmet(reason('criteria.reason.notAttempted', { label })) : UNMET_UNEXPLAINED;
    const blocked = barrier(gate, r);
    if (blocked) return explain ? unmet(blocked) : UNMET_UNEXPLAINED;
    // A zero threshold asks for a result, with or without a score.
    if (r.score === null) {
      if (!explain) return required === 0 ? MET_UNEXPLAINED : UNMET_UNEXPLAINED;
      return required === 0
        ? { satisfied: true, progress: 1, reason: reason('criteria.reason.resultRecorded', { label }) }
        : unmet(reason('criteria.reason.notGraded', { label }));
    }
    const value = byPercent ? r.percent : r.score;
    const satisfied = value >= required;
    const progress = progressOf(satisfied, required > 0 ? value / required : 0);
    if (!explain) return { satisfied, progress, reason: UNEXPLAINED };
    const key = byPercent
      ? satisfied ? 'criteria.reason.scorePercentMet' : 'criteria.reason.scorePercentShort'
      : satisfied ? 'criteria.reason.scorePointsMet' : 'criteria.reason.scorePointsShort';
    const params = scoreParams(r);
    params.required = required;
    return { satisfied, progress, reason: reason(key, params) };
  };
  return { judge, detail: { required, unit: byPercent ? 'percent' : 'points' } };
}

function compileCompletionJudge(node: CompletionNode): { judge: ItemJudge; detail: Record<string, number | string> } {
  const gate: Gate = { window: compileWindow(node.window), completed: node.require === 'completed', fullyGraded: node.require === 'fullyGraded' };
  const done = node.require === 'completed' ? 'criteria.reason.completed' : 'criteria.reason.fullyGraded';
  const judge: ItemJudge = (r, explain) => {
    const label = r.item.label;
    if (!r.result) return explain ? unmet(reason('criteria.reason.notAttempted', { label })) : UNMET_UNEXPLAINED;
    const blocked = barrier(gate, r);
    if (!explain) return blocked ? UNMET_UNEXPLAINED : MET_UNEXPLAINED;
    return blocked ? unmet(blocked) : { satisfied: true, progress: 1, reason: reason(done, { label }) };
  };
  return { judge, detail: { require: node.require } };
}

/** Ids "<prefix>.<index>" for a node's per-column entries, made once rather than per learner. */
function indexedIds(prefix: string): (index: number) => string {
  const ids: string[] = [];
  return (index) => (ids[index] ??= `${prefix}.${index}`);
}

class Compiler {
  readonly selectors: CompiledSelector[] = [];

  private select(selector: Selector): { index: number; params: CompiledSelector['params'] } {
    const compiled = compileSelector(selector);
    this.selectors.push(compiled);
    return { index: this.selectors.length - 1, params: compiled.params };
  }

  node(node: CriteriaNode, path: string): NodeEvaluator {
    const id = node.id ?? path;
    const label = node.label;
    // Built field by field: this runs for every node of every learner, and spreads cost.
    const make = (satisfied: boolean, ratio: number, detail: NodeProgress['detail'], why: Reason, children?: NodeProgress[]): NodeProgress => {
      const progress: NodeProgress = { id, type: node.type, satisfied, progress: progressOf(satisfied, ratio), detail, reason: why };
      if (label) progress.label = label;
      if (children) progress.children = children;
      return progress;
    };
    const bare = (satisfied: boolean, ratio: number): NodeProgress => ({ id, type: node.type, satisfied, progress: progressOf(satisfied, ratio), detail: NO_DETAIL, reason: UNEXPLAINED });

    switch (node.type) {
      case 'score':
      case 'completion': {
        const { judge, detail } = node.type === 'score' ? compileScoreJudge(node) : compileCompletionJudge(node);
        const { index, params } = this.select(node.select);
        const lineItemIds = indexedIds(`${id}.lineItems`);
        return (learner) => {
          const { explain } = learner;
          const items = learner.matches[index] ?? [];
          if (items.length === 0) return explain ? make(false, 0, { matched: 0, satisfiedCount: 0, ...detail }, reason('criteria.reason.noMatch', params)) : bare(false, 0);
          if (items.length === 1) {
            const r = read(items[0]!, learner.snapshot);
            const verdict = judge(r, explain);
            if (!explain) return bare(verdict.satisfied, verdict.progress);
            return make(verdict.satisfied, verdict.progress, { matched: 1, satisfiedCount: verdict.satisfied ? 1 : 0, ...detail, ...readingDetail(r) }, verdict.reason);
          }
          // A selector matching several columns needs every one of them.
          const children: NodeProgress[] = [];
          let satisfiedCount = 0;
          let progressSum = 0;
          items.forEach((item, k) => {
            const r = read(item, learner.snapshot);
            const verdict = judge(r, explain);
            if (verdict.satisfied) satisfiedCount++;
            progressSum += verdict.progress;
            if (explain) children.push({ id: lineItemIds(k), type: 'lineItem', satisfied: verdict.satisfied, progress: verdict.progress, detail: readingDetail(r), reason: verdict.reason });
          });
          const satisfied = satisfiedCount === items.length;
          const ratio = progressSum / items.length;
          if (!explain) return bare(satisfied, ratio);
          const why = satisfied
            ? reason('criteria.reason.columnsAllMet', { ...params, matched: items.length })
            : reason('criteria.reason.columnsSomeMet', { ...params, matched: items.length, satisfiedCount });
          return make(satisfied, ratio, { matched: items.length, satisfiedCount, ...detail }, why, children);
        };
      }

      case 'allOf':
      case 'anyOf':
      case 'atLeast': {
        const children = node.children.map((child, i) => this.node(child, `${path}.children.${i}`));
        const total = children.length;
        const n = node.type === 'allOf' ? total : node.type === 'anyOf' ? 1 : node.n;
        return (learner) => {
          const results = children.map((evaluateChild) => evaluateChild(learner));
          let satisfiedCount = 0;
          for (const c of results) if (c.satisfied) satisfiedCount++;
          const satisfied = satisfiedCount >= n;
          const progresses = results.map((c) => c.progress);
          // allOf: mean of all; anyOf: the best; atLeast: mean of the best n.
          const ratio = node.type === 'anyOf' ? Math.max(...progresses) : mean(progresses.sort((a, b) => b - a).slice(0, n));
          if (!learner.explain) return bare(satisfied, ratio);
          const key = `criteria.reason.${node.type}${satisfied ? 'Met' : 'Short'}` as const;
          const params: Reason['params'] = node.type === 'atLeast' ? { count: total, satisfiedCount, n } : { count: total, satisfiedCount };
          const detail: NodeProgress['detail'] = node.type === 'atLeast' ? { n, total, satisfiedCount } : { total, satisfiedCount };
          return make(satisfied, ratio, detail, reason(key, params), results);
        };
      }

      case 'weightedAverage': {
        const required = node.minPercent;
        const entries = node.items.map((item, i) => ({ ...this.select(item.select), weight: item.weight, entryId: `${id}.items.${i}`, entryLineItemIds: indexedIds(`${id}.items.${i}.lineItems`) }));
        return (learner) => {
          const { explain } = learner;
          const children: NodeProgress[] = [];
          let weightedSum = 0;
          let totalWeight = 0;
          let anyResult = false;
          let matched = 0;
          for (const { index, params, weight, entryId, entryLineItemIds } of entries) {
            const items = learner.matches[index] ?? [];
            if (items.length === 0) {
              // A missing column counts as one 0% result with the entry's weight.
              totalWeight += weight;
              if (explain) children.push({ id: entryId, type: 'unmatched', satisfied: false, progress: 0, detail: { weight, percent: 0 }, reason: reason('criteria.reason.weightedItemNoMatch', { ...params, weight }) });
              continue;
            }
            items.forEach((item, k) => {
              const r = read(item, learner.snapshot);
              matched++;
              totalWeight += weight;
              weightedSum = finite(weightedSum + weight * r.percent);
              anyResult ||= r.result !== undefined;
              if (!explain) return;
              const satisfied = required === 0 ? r.result !== undefined : r.score !== null && r.percent >= required;
              const why = !r.result
                ? reason('criteria.reason.weightedItemNotAttempted', { label: item.label, weight })
                : r.score === null
                  ? reason('criteria.reason.weightedItemNotGraded', { label: item.label, weight })
                  : reason('criteria.reason.weightedItem', Object.assign(scoreParams(r), { weight }));
              const detail = readingDetail(r);
              detail.weight = weight;
              children.push({ id: entryLineItemIds(k), type: 'lineItem', satisfied, progress: progressOf(satisfied, required > 0 ? r.percent / required : 0), detail, reason: why });
            });
          }
          const average = weightedSum / totalWeight;
          const satisfied = required === 0 ? anyResult : average >= required;
          const ratio = required > 0 ? average / required : 0;
          if (!explain) return bare(satisfied, ratio);
          const why = required === 0 && !anyResult
            ? reason('criteria.reason.noResults')
            : reason(satisfied ? 'criteria.reason.weightedAverageMet' : 'criteria.reason.weightedAverageShort', { percent: shown(average, 1), required });
          return make(satisfied, ratio, { percent: average, required, totalWeight, matched }, why, children);
        };
      }

      case 'totalPoints': {
        const required = node.minPoints;
        const { index, params } = this.select(node.select);
        const lineItemIds = indexedIds(`${id}.lineItems`);
        return (learner) => {
          const { explain } = learner;
          const items = learner.matches[index] ?? [];
          if (items.length === 0) return explain ? make(false, 0, { score: 0, required, matched: 0, counted: 0 }, reason('criteria.reason.noMatch', params)) : bare(false, 0);
          let sum = 0;
          let anyResult = false;
          let counted = 0;
          const children: NodeProgress[] = [];
          items.forEach((item, k) => {
            const r = read(item, learner.snapshot);
            anyResult ||= r.result !== undefined;
            sum = finite(sum + (r.score ?? 0));
            const isCounted = r.score !== null;
            if (isCounted) counted++;
            if (!explain) return;
            const why = !r.result
              ? reason('criteria.reason.notAttempted', { label: item.label })
              : r.score === null
                ? reason('criteria.reason.notGraded', { label: item.label })
                : reason('criteria.reason.pointsItem', scoreParams(r));
            children.push({ id: lineItemIds(k), type: 'lineItem', satisfied: isCounted, progress: isCounted ? 1 : 0, detail: readingDetail(r), reason: why });
          });
          const satisfied = required === 0 ? anyResult : sum >= required;
          const ratio = required > 0 ? sum / required : 0;
          if (!explain) return bare(satisfied, ratio);
          const why = required === 0 && !anyResult
            ? reason('criteria.reason.noResults')
            : reason(satisfied ? 'criteria.reason.totalPointsMet' : 'criteria.reason.totalPointsShort', { score: shown(sum, 2), required });
          return make(satisfied, ratio, { score: sum, required, matched: items.length, counted }, why, children);
        };
      }

      case 'prerequisite': {
        const { credentialId } = node;
        return (learner) => {
          const held = learner.snapshot.heldCredentials.includes(credentialId);
          if (!learner.explain) return bare(held, 0);
          return make(held, 0, { credentialId }, reason(held ? 'criteria.reason.prerequisiteHeld' : 'criteria.reason.prerequisiteMissing', { credentialId }));
        };
      }

      case 'staffApproval':
        return (learner) => {
          const approved = learner.snapshot.staffApprovals.includes(learner.definitionId);
          if (!learner.explain) return bare(approved, 0);
          return make(approved, 0, { definitionId: learner.definitionId }, reason(approved ? 'criteria.reason.staffApproved' : 'criteria.reason.staffApprovalPending'));
        };
    }
  }
}

/** The line items' identity, for recognising the same gradebook in another array. */
function gradebookKey(lineItems: readonly GradebookLineItem[]): string {
  return lineItems.map((i) => [i.id, i.label, i.resourceLinkId ?? '', i.resourceId ?? '', i.tag ?? ''].join('\u0000')).join('\u0001');
}

const REMEMBERED_GRADEBOOKS = 16;

/**
 * Compiles a (schema-valid) criteria tree once. Selectors are matched against a gradebook's line
 * items once, then reused for every learner whose snapshot carries the same line items (the same
 * array, or an equal one), so a course's labels and regexes are not re-run per learner. A
 * snapshot's line items are read as immutable.
 */
export function compileCriteria(criteria: Criteria): CompiledCriteria {
  const compiler = new Compiler();
  const root = compiler.node(criteria, ROOT_ID);
  const { selectors } = compiler;
  const byArray = new WeakMap<readonly GradebookLineItem[], GradebookLineItem[][]>();
  const byContent = new Map<string, GradebookLineItem[][]>();

  const matchesFor = (lineItems: readonly GradebookLineItem[]): GradebookLineItem[][] => {
    const known = byArray.get(lineItems);
    if (known) return known;
    const key = gradebookKey(lineItems);
    let matches = byContent.get(key);
    if (!matches) {
      matches = selectors.map((s) => lineItems.filter((item) => s.matches(item)));
      if (byContent.size >= REMEMBERED_GRADEBOOKS) byContent.delete(byContent.keys().next().value!);
      byContent.set(key, matches);
    }
    byArray.set(lineItems, matches);
    return matches;
  };

  return {
    evaluate(definitionId, snapshot, now) {
      const progress = root({ snapshot, definitionId, matches: matchesFor(snapshot.lineItems), explain: true });
      return { qualified: progress.satisfied, progress, evaluatedAt: evaluatedAt(now, snapshot.fetchedAt) };
    },
    judge(definitionId, snapshot) {
      const { satisfied, progress } = root({ snapshot, definitionId, matches: matchesFor(snapshot.lineItems), explain: false });
      return { qualified: satisfied, progress };
    },
  };
}

/** `now` when it is a valid date, else the snapshot's fetch time: never the clock. */
function evaluatedAt(now: Date | undefined, fetchedAt: string): string {
  const ms = now !== undefined && Number.isFinite(now.getTime()) ? now.getTime() : Date.parse(fetchedAt);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : String(fetchedAt);
}

const compiledTrees = new WeakMap<Criteria, CompiledCriteria>();

/** Evaluates one learner; the tree is compiled on first use and kept while the tree object lives. */
export function evaluate(definition: { id: string; criteria: Criteria }, snapshot: LearnerSnapshot, now?: Date): Evaluation {
  let compiled = compiledTrees.get(definition.criteria);
  if (!compiled) {
    compiled = compileCriteria(definition.criteria);
    compiledTrees.set(definition.criteria, compiled);
  }
  return compiled.evaluate(definition.id, snapshot, now);
}
