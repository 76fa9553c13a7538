import fc from 'fast-check';
import { REASON_KEYS, compileCriteria, evaluate } from '../../src/criteria/index.js';
import type { LearnerSnapshot } from '../../src/gradebook/types.js';
import { DEFINITION, LINE_ITEM_IDS, nodes, snapshotArb, treeArb, valid } from './arbitraries.js';

const RUNS = { numRuns: 200 };

describe('evaluation properties', () => {
  it('is total: never throws, progress within [0, 1], 1 exactly when satisfied, finite numbers, known reason keys', () => {
    const known = new Set<string>(REASON_KEYS);
    fc.assert(fc.property(treeArb(false), snapshotArb, fc.option(fc.date({ noInvalidDate: false }), { nil: undefined }), (tree, snapshot, now) => {
      const evaluation = evaluate({ id: DEFINITION, criteria: valid(tree) }, snapshot, now);
      expect(evaluation.qualified).toBe(evaluation.progress.satisfied);
      expect(typeof evaluation.evaluatedAt).toBe('string');
      for (const node of nodes(evaluation.progress)) {
        expect(node.progress).toBeGreaterThanOrEqual(0);
        expect(node.progress).toBeLessThanOrEqual(1);
        expect(node.progress === 1).toBe(node.satisfied);
        expect(known.has(node.reason.key)).toBe(true);
        for (const value of [...Object.values(node.detail), ...Object.values(node.reason.params)]) {
          if (typeof value === 'number') expect(Number.isFinite(value)).toBe(true);
          else if (value !== null) expect(typeof value).toBe('string');
        }
      }
    }), RUNS);
  });

  it('is deterministic: the same input gives a deep-equal output, through any compilation', () => {
    fc.assert(fc.property(treeArb(false), snapshotArb, (tree, snapshot) => {
      const criteria = valid(tree);
      const first = evaluate({ id: DEFINITION, criteria }, snapshot);
      const again = compileCriteria(valid(tree)).evaluate(DEFINITION, structuredClone(snapshot));
      expect(again).toEqual(first);
      expect(evaluate({ id: DEFINITION, criteria }, snapshot)).toEqual(first);
    }), RUNS);
  });

  it('judges exactly as it evaluates: judge() is evaluate() without the explanation', () => {
    fc.assert(fc.property(treeArb(false), snapshotArb, (tree, snapshot) => {
      const compiled = compileCriteria(valid(tree));
      const evaluation = compiled.evaluate(DEFINITION, snapshot);
      expect(compiled.judge(DEFINITION, snapshot)).toEqual({ qualified: evaluation.qualified, progress: evaluation.progress.progress });
    }), { numRuns: 500 });
  });

  it('is monotonic: raising a score never turns a qualified learner unqualified, nor lowers progress', () => {
    const raise = fc.record({ lineItemId: fc.constantFrom(...LINE_ITEM_IDS), by: fc.double({ min: 0, max: 500, noNaN: true }) });
    fc.assert(fc.property(treeArb(true), snapshotArb, raise, (tree, snapshot, { lineItemId, by }) => {
      const result = snapshot.results[lineItemId];
      fc.pre(result !== undefined);
      // A score that does not count (null, NaN, ±Infinity) counts as 0, so raising it starts from 0.
      const before = typeof result.score === 'number' && Number.isFinite(result.score) ? result.score : 0;
      const raised: LearnerSnapshot = { ...snapshot, results: { ...snapshot.results, [lineItemId]: { ...result, score: before + by } } };
      const compiled = compileCriteria(valid(tree));
      const was = compiled.evaluate(DEFINITION, snapshot);
      const now = compiled.evaluate(DEFINITION, raised);
      if (was.qualified) expect(now.qualified).toBe(true);
      expect(now.progress.progress).toBeGreaterThanOrEqual(was.progress.progress);
    }), RUNS);
  });
});
