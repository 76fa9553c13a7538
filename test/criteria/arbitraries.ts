import fc from 'fast-check';
import { parseCriteria, type Criteria, type NodeProgress } from '../../src/criteria/index.js';
import type { ActivityProgress, GradebookLineItem, GradebookResult, GradingProgress, LearnerSnapshot } from '../../src/gradebook/types.js';

/** fast-check generators of schema-valid criteria trees and of learner snapshots, awkward values included. */

export const DEFINITION = 'def-1';

// A small gradebook, so generated selectors hit, miss and overlap often.
export const LINE_ITEM_IDS = ['li-0', 'li-1', 'li-2', 'li-3', 'li-4', 'li-5'];
const TAGS = ['quiz', 'exam', 'lab'];

const awkwardNumber = fc.oneof(
  fc.integer({ min: -20, max: 200 }),
  fc.double(),
  fc.constantFrom(0, -0, NaN, Infinity, -Infinity, Number.MAX_VALUE, Number.MIN_VALUE),
);

const lineItemArb: fc.Arbitrary<GradebookLineItem[]> = fc.tuple(...LINE_ITEM_IDS.map((id, i) => fc.record({
  id: fc.constant(id),
  label: fc.constantFrom(`Quiz ${i}`, `第${i}回 小テスト`, `Exam ${i}`, `Lab ${i}`),
  scoreMaximum: fc.oneof(fc.constantFrom(0, 10, 100), awkwardNumber),
  tag: fc.option(fc.constantFrom(...TAGS), { nil: undefined }),
  resourceLinkId: fc.option(fc.constant(`rl-${i}`), { nil: undefined }),
  resourceId: fc.option(fc.constant(`res-${i % 3}`), { nil: undefined }),
}, { requiredKeys: ['id', 'label', 'scoreMaximum'] })));

const timestampArb = fc.option(fc.constantFrom('2026-01-01T00:00:00Z', '2026-06-15T12:00:00+09:00', '2026-12-31T23:59:59Z', 'not a date', ''), { nil: undefined });

function resultArb(lineItemId: string): fc.Arbitrary<GradebookResult> {
  return fc.record({
    lineItemId: fc.constant(lineItemId),
    score: fc.oneof(fc.constant(null), awkwardNumber),
    maximum: fc.oneof(fc.constantFrom(0, 10, 100), awkwardNumber),
    timestamp: timestampArb,
    activityProgress: fc.option(fc.constantFrom<ActivityProgress>('Initialized', 'Started', 'InProgress', 'Submitted', 'Completed'), { nil: undefined }),
    gradingProgress: fc.option(fc.constantFrom<GradingProgress>('FullyGraded', 'Pending', 'PendingManual', 'Failed', 'NotReady'), { nil: undefined }),
  }, { requiredKeys: ['lineItemId', 'score', 'maximum'] });
}

export const snapshotArb: fc.Arbitrary<LearnerSnapshot> = fc.record({
  userId: fc.constant('learner'),
  fetchedAt: fc.constantFrom('2026-11-01T00:00:00Z', 'garbage'),
  lineItems: lineItemArb,
  // Results for some line items, and sometimes for one the gradebook does not list.
  results: fc.tuple(...[...LINE_ITEM_IDS, 'li-gone'].map((id) => fc.option(resultArb(id), { nil: undefined }))).map((results) =>
    Object.fromEntries(results.filter((r): r is GradebookResult => r !== undefined).map((r) => [r.lineItemId, r]))),
  heldCredentials: fc.subarray(['A', 'B', 'C']),
  staffApprovals: fc.subarray([DEFINITION, 'other']),
});

const selectorArb = fc.oneof(
  fc.constantFrom(...LINE_ITEM_IDS, 'li-missing').map((lineItemId) => ({ lineItemId })),
  fc.constantFrom('rl-1', 'rl-4', 'rl-missing').map((resourceLinkId) => ({ resourceLinkId })),
  fc.constantFrom('res-0', 'res-2').map((resourceId) => ({ resourceId })),
  fc.constantFrom(...TAGS, 'none').map((tag) => ({ tag })),
  fc.constantFrom('quiz', '小テスト', '/^(Quiz|Exam) [0-2]$/i', '/\\d$/', 'zzz').map((labelPattern) => ({ labelPattern })),
);

const windowArb = fc.option(fc.constantFrom(
  { from: '2026-03-01T00:00:00Z' },
  { to: '2026-10-31T23:59:59+09:00' },
  { from: '2026-01-01T00:00:00Z', to: '2026-12-31T23:59:59Z' },
), { nil: undefined });

const thresholdArb = fc.oneof(
  fc.integer({ min: 0, max: 100 }).map((minPercent) => ({ minPercent })),
  fc.double({ min: 0, max: 150, noNaN: true }).map((minPoints) => ({ minPoints })),
);

/** Trees of every node type (thresholdOnly: only nodes whose verdict depends on scores alone, no windows). */
export function treeArb(thresholdOnly: boolean): fc.Arbitrary<unknown> {
  const score = fc.tuple(selectorArb, thresholdArb, thresholdOnly ? fc.constant({}) : fc.record({
    requireCompleted: fc.option(fc.constant(true as const), { nil: undefined }),
    requireFullyGraded: fc.option(fc.constant(true as const), { nil: undefined }),
    window: windowArb,
  }, { requiredKeys: [] })).map(([select, threshold, extra]) => ({ type: 'score', select, ...threshold, ...extra }));
  const weightedAverage = fc.record({
    type: fc.constant('weightedAverage'),
    items: fc.array(fc.record({ select: selectorArb, weight: fc.double({ min: 0.01, max: 100, noNaN: true }) }), { minLength: 1, maxLength: 4 }),
    minPercent: fc.integer({ min: 0, max: 100 }),
  });
  const totalPoints = fc.record({ type: fc.constant('totalPoints'), select: selectorArb, minPoints: fc.double({ min: 0, max: 300, noNaN: true }) });
  const leaves: fc.Arbitrary<unknown>[] = [score, weightedAverage, totalPoints];
  if (!thresholdOnly) {
    leaves.push(
      fc.record({ type: fc.constant('completion'), select: selectorArb, require: fc.constantFrom('completed', 'fullyGraded'), window: windowArb }, { requiredKeys: ['type', 'select', 'require'] }),
      fc.constantFrom('A', 'B', 'Z').map((credentialId) => ({ type: 'prerequisite', credentialId })),
      fc.constant({ type: 'staffApproval' }),
    );
  }
  const { node } = fc.letrec<{ node: unknown }>((tie) => {
    const children = fc.array(tie('node'), { minLength: 1, maxLength: 4 });
    return {
      node: fc.oneof(
        { depthSize: 'small', maxDepth: 4 },
        ...leaves,
        children.map((c) => ({ type: 'allOf', children: c })),
        children.map((c) => ({ type: 'anyOf', children: c })),
        children.chain((c) => fc.integer({ min: 1, max: c.length }).map((n) => ({ type: 'atLeast', n, children: c }))),
      ),
    };
  });
  return node;
}

export function valid(tree: unknown): Criteria {
  const parsed = parseCriteria(tree);
  if (!parsed.ok) throw new Error(`generator made invalid criteria: ${JSON.stringify(parsed.errors)}`);
  return parsed.criteria;
}

export function nodes(root: NodeProgress): NodeProgress[] {
  return [root, ...(root.children ?? []).flatMap(nodes)];
}
