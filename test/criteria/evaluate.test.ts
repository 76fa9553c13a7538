import { compileCriteria, evaluate, type NodeProgress } from '../../src/criteria/index.js';
import type { GradebookLineItem } from '../../src/gradebook/types.js';
import { FETCHED_AT, criteria, dataScience, essay, final, item, learner, quiz1, quiz2, quiz3, type ResultInput } from './builders.js';

const DEFINITION = 'def-data-science';

function run(tree: unknown, results: Record<string, ResultInput>, lineItems: GradebookLineItem[] = dataScience, extra = {}) {
  return evaluate({ id: DEFINITION, criteria: criteria(tree) }, learner(lineItems, results, extra));
}

function root(tree: unknown, results: Record<string, ResultInput>, lineItems: GradebookLineItem[] = dataScience, extra = {}): NodeProgress {
  return run(tree, results, lineItems, extra).progress;
}

describe('score leaf', () => {
  const atLeast80 = { type: 'score', select: { lineItemId: quiz1 }, minPercent: 80 };

  it('is met at or above the percentage and reports the numbers behind it', () => {
    const node = root(atLeast80, { [quiz1]: { score: 8 } });
    expect(node).toMatchObject({ id: 'root', type: 'score', satisfied: true, progress: 1 });
    expect(node.detail).toMatchObject({ matched: 1, satisfiedCount: 1, required: 80, unit: 'percent', lineItemId: quiz1, label: '第1回 小テスト', score: 8, maximum: 10, percent: 80 });
    expect(node.reason).toEqual({ key: 'criteria.reason.scorePercentMet', params: { label: '第1回 小テスト', score: 8, maximum: 10, percent: 80, required: 80 } });
  });

  it('below the percentage, progress is percent over required', () => {
    const node = root(atLeast80, { [quiz1]: { score: 7 } });
    expect(node).toMatchObject({ satisfied: false, progress: 70 / 80 });
    expect(node.reason.key).toBe('criteria.reason.scorePercentShort');
  });

  it('compares percentages without floating-point loss (57 of 100 is 57%)', () => {
    const node = root({ type: 'score', select: { lineItemId: final }, minPercent: 57 }, { [final]: { score: 57 } });
    expect(node.satisfied).toBe(true);
  });

  it('by points: progress is points over required', () => {
    const tree = { type: 'score', select: { lineItemId: essay }, minPoints: 70 };
    expect(root(tree, { [essay]: { score: 70 } })).toMatchObject({ satisfied: true, progress: 1 });
    const short = root(tree, { [essay]: { score: 35 } });
    expect(short).toMatchObject({ satisfied: false, progress: 0.5 });
    expect(short.reason).toEqual({ key: 'criteria.reason.scorePointsShort', params: { label: 'レポート課題', score: 35, maximum: 100, percent: 35, required: 70 } });
  });

  it('a missing result is "not attempted", progress 0', () => {
    expect(root(atLeast80, {})).toMatchObject({ satisfied: false, progress: 0, reason: { key: 'criteria.reason.notAttempted', params: { label: '第1回 小テスト' } } });
  });

  it('a null score is "not graded", 0%', () => {
    const node = root(atLeast80, { [quiz1]: { score: null } });
    expect(node).toMatchObject({ satisfied: false, progress: 0, reason: { key: 'criteria.reason.notGraded' } });
    expect(node.detail).toMatchObject({ score: null, percent: null });
  });

  it('a threshold of 0 is met by any result, even one without a score, but not by no result', () => {
    const zero = { type: 'score', select: { lineItemId: quiz1 }, minPercent: 0 };
    expect(root(zero, { [quiz1]: { score: null } })).toMatchObject({ satisfied: true, progress: 1, reason: { key: 'criteria.reason.resultRecorded' } });
    expect(root(zero, { [quiz1]: { score: 0 } })).toMatchObject({ satisfied: true, progress: 1 });
    expect(root(zero, {})).toMatchObject({ satisfied: false, progress: 0 });
    expect(root({ type: 'score', select: { lineItemId: quiz1 }, minPoints: 0 }, {})).toMatchObject({ satisfied: false, progress: 0 });
  });

  describe('a maximum of 0', () => {
    const bonus = [item('bonus', 'Bonus', 0)];
    const tree = { type: 'score', select: { lineItemId: 'bonus' }, minPercent: 50 };

    it('makes any positive score 100%', () => {
      const node = root(tree, { bonus: { score: 3 } }, bonus);
      expect(node).toMatchObject({ satisfied: true, progress: 1 });
      expect(node.detail).toMatchObject({ maximum: 0, percent: 100 });
    });

    it('makes a score of 0 count as 0%', () => {
      expect(root(tree, { bonus: { score: 0 } }, bonus)).toMatchObject({ satisfied: false, progress: 0, detail: { percent: 0 } });
    });

    it('falls back to the line item maximum when only the result has none', () => {
      const node = root(tree, { bonus: { score: 3, maximum: 0 } }, [item('bonus', 'Bonus', 10)]);
      expect(node).toMatchObject({ satisfied: false, progress: 30 / 50, detail: { maximum: 10, percent: 30 } });
    });
  });

  it('treats a NaN or infinite score as no score, and a negative one as 0', () => {
    expect(root(atLeast80, { [quiz1]: { score: NaN } })).toMatchObject({ satisfied: false, progress: 0, reason: { key: 'criteria.reason.notGraded' } });
    expect(root(atLeast80, { [quiz1]: { score: Infinity } })).toMatchObject({ satisfied: false, reason: { key: 'criteria.reason.notGraded' } });
    expect(root(atLeast80, { [quiz1]: { score: -4 } })).toMatchObject({ satisfied: false, progress: 0, detail: { score: 0, percent: 0 } });
    expect(root(atLeast80, { [quiz1]: { score: 8, maximum: NaN } })).toMatchObject({ satisfied: true, detail: { maximum: 10 } });
  });

  it('requireCompleted needs activityProgress Completed; a scored result without it counts as completed', () => {
    const tree = { ...atLeast80, requireCompleted: true };
    expect(root(tree, { [quiz1]: { score: 9, activityProgress: 'Submitted' } })).toMatchObject({ satisfied: false, progress: 0, reason: { key: 'criteria.reason.notCompleted' } });
    expect(root(tree, { [quiz1]: { score: 9, activityProgress: 'Completed' } }).satisfied).toBe(true);
    expect(root(tree, { [quiz1]: { score: 9 } }).satisfied).toBe(true);
  });

  it('requireFullyGraded needs gradingProgress FullyGraded', () => {
    const tree = { ...atLeast80, requireFullyGraded: true };
    expect(root(tree, { [quiz1]: { score: 9, gradingProgress: 'PendingManual' } })).toMatchObject({ satisfied: false, reason: { key: 'criteria.reason.notFullyGraded' } });
    expect(root(tree, { [quiz1]: { score: 9, gradingProgress: 'FullyGraded' } }).satisfied).toBe(true);
  });

  describe('window', () => {
    const windowed = { ...atLeast80, window: { from: '2026-10-01T00:00:00+09:00', to: '2026-10-31T23:59:59+09:00' } };

    it('counts a score timestamped inside it, bounds included', () => {
      expect(root(windowed, { [quiz1]: { score: 9, timestamp: '2026-10-15T10:00:00Z' } }).satisfied).toBe(true);
      expect(root(windowed, { [quiz1]: { score: 9, timestamp: '2026-10-31T14:59:59Z' } }).satisfied).toBe(true);
      expect(root(windowed, { [quiz1]: { score: 9, timestamp: '2026-09-30T15:00:00Z' } }).satisfied).toBe(true);
    });

    it('does not count a score after the deadline', () => {
      expect(root(windowed, { [quiz1]: { score: 9, timestamp: '2026-10-31T15:00:00Z' } })).toMatchObject({
        satisfied: false,
        progress: 0,
        reason: { key: 'criteria.reason.scoredAfterWindow', params: { label: '第1回 小テスト', scoredAt: '2026-10-31T15:00:00Z', toAt: '2026-10-31T23:59:59+09:00' } },
      });
    });

    it('does not count a score before the start', () => {
      expect(root(windowed, { [quiz1]: { score: 9, timestamp: '2026-09-30T14:59:59Z' } })).toMatchObject({ satisfied: false, reason: { key: 'criteria.reason.scoredBeforeWindow', params: { fromAt: '2026-10-01T00:00:00+09:00' } } });
    });

    it('cannot be checked without a (readable) timestamp, so the score does not count', () => {
      expect(root(windowed, { [quiz1]: { score: 9 } })).toMatchObject({ satisfied: false, reason: { key: 'criteria.reason.scoreTimeUnknown' } });
      expect(root(windowed, { [quiz1]: { score: 9, timestamp: 'yesterday' } })).toMatchObject({ satisfied: false, reason: { key: 'criteria.reason.scoreTimeUnknown' } });
    });

    it('may be open on one side', () => {
      const deadlineOnly = { ...atLeast80, window: { to: '2026-10-31T23:59:59+09:00' } };
      expect(root(deadlineOnly, { [quiz1]: { score: 9, timestamp: '2020-01-01T00:00:00Z' } }).satisfied).toBe(true);
    });
  });
});

describe('selectors', () => {
  const at60 = (select: object) => ({ type: 'score', select, minPercent: 60 });
  const allQuizzes = { [quiz1]: { score: 6 }, [quiz2]: { score: 9 }, [quiz3]: { score: 3 } };

  it.each([
    ['lineItemId', { lineItemId: final }],
    ['resourceLinkId', { resourceLinkId: 'rl-quiz-2' }],
    ['resourceId', { resourceId: 'essay-2026' }],
    ['tag', { tag: 'exam' }],
    ['labelPattern (substring)', { labelPattern: 'レポート' }],
  ])('%s selects one line item', (_kind, select) => {
    const node = root(at60(select), {});
    expect(node.detail.matched).toBe(1);
  });

  it('a substring pattern ignores case and full-width/half-width differences', () => {
    const lineItems = [item('q', 'Quiz １ (Ｗｅｅｋ 1)', 10)];
    expect(root(at60({ labelPattern: 'quiz 1 (week' }), {}, lineItems).detail.matched).toBe(1);
    expect(root(at60({ labelPattern: '第１回' }), {}).detail).toMatchObject({ matched: 1, label: '第1回 小テスト' });
  });

  it('a /regex/flags pattern is a regular expression', () => {
    expect(root(at60({ labelPattern: '/^第[12]回/' }), allQuizzes).detail.matched).toBe(2);
    const lineItems = [item('a', 'QUIZ 1'), item('b', 'quiz 2'), item('c', 'Quizzes overview')];
    expect(root(at60({ labelPattern: '/^quiz \\d$/i' }), {}, lineItems).detail.matched).toBe(2);
    expect(root(at60({ labelPattern: '/^quiz \\d$/' }), {}, lineItems).detail.matched).toBe(1);
  });

  it('several matches: every line item must meet the requirement, and progress is their mean', () => {
    const node = root({ id: 'quizzes', ...at60({ tag: 'quiz' }) }, allQuizzes);
    expect(node).toMatchObject({ id: 'quizzes', satisfied: false, detail: { matched: 3, satisfiedCount: 2 } });
    expect(node.progress).toBeCloseTo((1 + 1 + 3 / 6) / 3, 12);
    expect(node.reason).toEqual({ key: 'criteria.reason.columnsSomeMet', params: { selectorKind: 'tag', selectorValue: 'quiz', matched: 3, satisfiedCount: 2 } });
    expect(node.children?.map((c) => [c.id, c.type, c.satisfied, c.detail.label])).toEqual([
      ['quizzes.lineItems.0', 'lineItem', true, '第1回 小テスト'],
      ['quizzes.lineItems.1', 'lineItem', true, '第2回 小テスト'],
      ['quizzes.lineItems.2', 'lineItem', false, '第3回 小テスト'],
    ]);
    const all = root(at60({ tag: 'quiz' }), { ...allQuizzes, [quiz3]: { score: 10 } });
    expect(all).toMatchObject({ satisfied: true, progress: 1, reason: { key: 'criteria.reason.columnsAllMet' } });
  });

  it('matching nothing is not satisfied: "no matching gradebook column"', () => {
    expect(root(at60({ tag: 'lab' }), {})).toMatchObject({
      satisfied: false,
      progress: 0,
      detail: { matched: 0 },
      reason: { key: 'criteria.reason.noMatch', params: { selectorKind: 'tag', selectorValue: 'lab' } },
    });
  });

  it('does not mistake Object.prototype members for results', () => {
    const lineItems = [item('constructor', 'Odd id', 10)];
    expect(root(at60({ lineItemId: 'constructor' }), {}, lineItems)).toMatchObject({ satisfied: false, reason: { key: 'criteria.reason.notAttempted' } });
  });

  it('matches a gradebook once, however many learners share it', () => {
    // Reads of each line item's label: matching reads all of them, reasons only the matched ones.
    const reads = new Map<string, number>();
    const counted = dataScience.map((i) => {
      const copy = { ...i };
      Object.defineProperty(copy, 'label', { get: () => { reads.set(i.id, (reads.get(i.id) ?? 0) + 1); return i.label; }, enumerable: true });
      return copy;
    });
    const unmatchedReads = () => (reads.get(essay) ?? 0) + (reads.get(final) ?? 0);
    const compiled = compileCriteria(criteria(at60({ labelPattern: '小テスト' })));
    compiled.evaluate(DEFINITION, learner(counted, {}));
    const afterFirst = unmatchedReads();
    expect(afterFirst).toBeGreaterThan(0);
    for (let n = 0; n < 50; n++) compiled.evaluate(DEFINITION, learner(counted, { [quiz1]: { score: n % 10 } }));
    expect(unmatchedReads()).toBe(afterFirst);
  });
});

describe('completion leaf', () => {
  const completed = { type: 'completion', select: { lineItemId: essay }, require: 'completed' };
  const graded = { type: 'completion', select: { lineItemId: essay }, require: 'fullyGraded' };

  it('require completed: activityProgress Completed, or a scored result without progress fields', () => {
    expect(root(completed, { [essay]: { score: null, activityProgress: 'Completed' } })).toMatchObject({ satisfied: true, progress: 1, reason: { key: 'criteria.reason.completed' } });
    expect(root(completed, { [essay]: { score: 50 } }).satisfied).toBe(true);
    expect(root(completed, { [essay]: { score: null } })).toMatchObject({ satisfied: false, reason: { key: 'criteria.reason.notCompleted' } });
    expect(root(completed, { [essay]: { score: null, activityProgress: 'InProgress' } })).toMatchObject({ satisfied: false, progress: 0 });
    expect(root(completed, {})).toMatchObject({ satisfied: false, reason: { key: 'criteria.reason.notAttempted' } });
  });

  it('require fullyGraded: gradingProgress FullyGraded', () => {
    expect(root(graded, { [essay]: { score: 40, gradingProgress: 'FullyGraded' } })).toMatchObject({ satisfied: true, reason: { key: 'criteria.reason.fullyGraded' } });
    expect(root(graded, { [essay]: { score: 40, gradingProgress: 'Pending' } })).toMatchObject({ satisfied: false, reason: { key: 'criteria.reason.notFullyGraded' } });
  });

  it('honours a window', () => {
    const tree = { ...completed, window: { to: '2026-07-31T23:59:59+09:00' } };
    expect(root(tree, { [essay]: { score: 50, timestamp: '2026-08-01T00:00:00+09:00' } })).toMatchObject({ satisfied: false, reason: { key: 'criteria.reason.scoredAfterWindow' } });
    expect(root(tree, { [essay]: { score: 50, timestamp: '2026-07-31T23:00:00+09:00' } }).satisfied).toBe(true);
  });

  it('several matches need all of them', () => {
    const node = root({ type: 'completion', select: { tag: 'quiz' }, require: 'completed' }, { [quiz1]: { score: 1 }, [quiz2]: { score: 2 } });
    expect(node).toMatchObject({ satisfied: false, detail: { matched: 3, satisfiedCount: 2 } });
    expect(node.progress).toBeCloseTo(2 / 3, 12);
  });
});

describe('allOf, anyOf, atLeast', () => {
  const quizAt = (id: string) => ({ type: 'score', select: { lineItemId: id }, minPercent: 60 });
  const children = [quizAt(quiz1), quizAt(quiz2), quizAt(quiz3)];
  // Progresses 1, 0.5 and 0.
  const results = { [quiz1]: { score: 10 }, [quiz2]: { score: 3 } };

  it('allOf: all children, progress the mean', () => {
    const node = root({ type: 'allOf', children }, results);
    expect(node).toMatchObject({ satisfied: false, progress: 0.5, detail: { total: 3, satisfiedCount: 1 }, reason: { key: 'criteria.reason.allOfShort', params: { count: 3, satisfiedCount: 1 } } });
    expect(node.children?.map((c) => c.id)).toEqual(['root.children.0', 'root.children.1', 'root.children.2']);
    expect(root({ type: 'allOf', children }, { [quiz1]: { score: 6 }, [quiz2]: { score: 6 }, [quiz3]: { score: 6 } })).toMatchObject({ satisfied: true, progress: 1, reason: { key: 'criteria.reason.allOfMet' } });
  });

  it('anyOf: one child, progress the best', () => {
    expect(root({ type: 'anyOf', children }, results)).toMatchObject({ satisfied: true, progress: 1, reason: { key: 'criteria.reason.anyOfMet' } });
    expect(root({ type: 'anyOf', children }, { [quiz2]: { score: 3 } })).toMatchObject({ satisfied: false, progress: 0.5, reason: { key: 'criteria.reason.anyOfShort' } });
  });

  it('atLeast: n children, progress the mean of the best n', () => {
    const node = root({ type: 'atLeast', n: 2, children }, results);
    expect(node).toMatchObject({ satisfied: false, progress: 0.75, detail: { n: 2, total: 3, satisfiedCount: 1 }, reason: { key: 'criteria.reason.atLeastShort', params: { count: 3, satisfiedCount: 1, n: 2 } } });
    expect(root({ type: 'atLeast', n: 2, children }, { ...results, [quiz3]: { score: 7 } })).toMatchObject({ satisfied: true, progress: 1, reason: { key: 'criteria.reason.atLeastMet' } });
  });

  it('nests, with generated ids by path and own ids where given', () => {
    const node = root({ type: 'allOf', label: { ja: '修了要件', en: 'Completion' }, children: [{ type: 'anyOf', children: [quizAt(quiz1), { id: 'essay70', type: 'score', select: { lineItemId: essay }, minPoints: 70 }] }] }, {});
    expect(node.label).toEqual({ ja: '修了要件', en: 'Completion' });
    expect(node.children?.[0]?.id).toBe('root.children.0');
    expect(node.children?.[0]?.children?.map((c) => c.id)).toEqual(['root.children.0.children.0', 'essay70']);
  });

  it('an unmet requirement never shows 100% progress, even when the mean rounds to 1', () => {
    const justShort = { type: 'score', select: { lineItemId: quiz3 }, minPoints: 1 };
    // (1 + 1 + (1 - 2^-53)) / 3 is 1 in floating point.
    const node = root({ type: 'allOf', children: [quizAt(quiz1), quizAt(quiz2), justShort] }, { [quiz1]: { score: 10 }, [quiz2]: { score: 10 }, [quiz3]: { score: 1 - 2 ** -53 } });
    expect(node.children?.[2]?.satisfied).toBe(false);
    expect(node.satisfied).toBe(false);
    expect(node.progress).toBeLessThan(1);
  });
});

describe('weightedAverage', () => {
  const tree = {
    type: 'weightedAverage',
    items: [{ select: { tag: 'quiz' }, weight: 1 }, { select: { lineItemId: essay }, weight: 2 }, { select: { lineItemId: final }, weight: 3 }],
    minPercent: 70,
  };

  it('weights every selected line item; a missing result counts as 0%', () => {
    // Quizzes 80%, 60%, missing (weight 1 each), essay 75% (2), final 90% (3): (80 + 60 + 0 + 150 + 270) / 8 = 70.
    const results = { [quiz1]: { score: 8 }, [quiz2]: { score: 6 }, [essay]: { score: 75 }, [final]: { score: 90 } };
    const node = root(tree, results);
    expect(node).toMatchObject({ satisfied: true, progress: 1, detail: { percent: 70, required: 70, totalWeight: 8, matched: 5 } });
    expect(node.reason).toEqual({ key: 'criteria.reason.weightedAverageMet', params: { percent: 70, required: 70 } });
    expect(node.children?.map((c) => [c.id, c.reason.key, c.detail.weight])).toEqual([
      ['root.items.0.lineItems.0', 'criteria.reason.weightedItem', 1],
      ['root.items.0.lineItems.1', 'criteria.reason.weightedItem', 1],
      ['root.items.0.lineItems.2', 'criteria.reason.weightedItemNotAttempted', 1],
      ['root.items.1.lineItems.0', 'criteria.reason.weightedItem', 2],
      ['root.items.2.lineItems.0', 'criteria.reason.weightedItem', 3],
    ]);
  });

  it('below the bar, progress is the average over the bar', () => {
    const node = root(tree, { [essay]: { score: 70 }, [final]: { score: 70 } });
    // (140 + 210) / 8 = 43.75
    expect(node).toMatchObject({ satisfied: false, detail: { percent: 43.75 }, reason: { key: 'criteria.reason.weightedAverageShort', params: { percent: 43.7, required: 70 } } });
    expect(node.progress).toBeCloseTo(43.75 / 70, 12);
  });

  it('an entry matching no column counts as one 0% result with its weight', () => {
    const node = root({ type: 'weightedAverage', items: [{ select: { tag: 'lab' }, weight: 1 }, { select: { lineItemId: final }, weight: 1 }], minPercent: 50 }, { [final]: { score: 100 } });
    expect(node).toMatchObject({ satisfied: true, detail: { percent: 50, totalWeight: 2 } });
    expect(node.children?.[0]).toMatchObject({ id: 'root.items.0', type: 'unmatched', satisfied: false, reason: { key: 'criteria.reason.weightedItemNoMatch' } });
  });

  it('with minPercent 0 needs at least one result', () => {
    const zero = { ...tree, minPercent: 0 };
    expect(root(zero, {})).toMatchObject({ satisfied: false, progress: 0, reason: { key: 'criteria.reason.noResults' } });
    expect(root(zero, { [quiz1]: { score: null } })).toMatchObject({ satisfied: true, progress: 1 });
  });
});

describe('totalPoints', () => {
  const tree = { type: 'totalPoints', select: { tag: 'quiz' }, minPoints: 20 };

  it('sums the scores of every matched line item', () => {
    const node = root(tree, { [quiz1]: { score: 8 }, [quiz2]: { score: 7 }, [quiz3]: { score: 5 } });
    expect(node).toMatchObject({ satisfied: true, progress: 1, detail: { score: 20, required: 20, matched: 3, counted: 3 }, reason: { key: 'criteria.reason.totalPointsMet', params: { score: 20, required: 20 } } });
  });

  it('counts null scores and missing results as 0', () => {
    const node = root(tree, { [quiz1]: { score: 8 }, [quiz2]: { score: null } });
    expect(node).toMatchObject({ satisfied: false, progress: 0.4, detail: { score: 8, counted: 1 } });
    expect(node.children?.map((c) => c.reason.key)).toEqual(['criteria.reason.pointsItem', 'criteria.reason.notGraded', 'criteria.reason.notAttempted']);
  });

  it('with minPoints 0 needs at least one result', () => {
    expect(root({ ...tree, minPoints: 0 }, {})).toMatchObject({ satisfied: false, reason: { key: 'criteria.reason.noResults' } });
    expect(root({ ...tree, minPoints: 0 }, { [quiz2]: { score: 0 } }).satisfied).toBe(true);
  });

  it('matching nothing is not satisfied', () => {
    expect(root({ ...tree, select: { tag: 'lab' } }, {})).toMatchObject({ satisfied: false, progress: 0, reason: { key: 'criteria.reason.noMatch' } });
  });
});

describe('prerequisite and staff approval', () => {
  it('a prerequisite is met when the learner holds that credential', () => {
    const tree = { type: 'prerequisite', credentialId: 'def-python-basics' };
    expect(root(tree, {}, dataScience, { heldCredentials: ['def-python-basics'] })).toMatchObject({ satisfied: true, progress: 1, reason: { key: 'criteria.reason.prerequisiteHeld', params: { credentialId: 'def-python-basics' } } });
    expect(root(tree, {}, dataScience, { heldCredentials: ['def-other'] })).toMatchObject({ satisfied: false, progress: 0, reason: { key: 'criteria.reason.prerequisiteMissing' } });
  });

  it('staff approval is met when staff approved this learner for the definition being evaluated', () => {
    const tree = { type: 'staffApproval' };
    expect(root(tree, {}, dataScience, { staffApprovals: [DEFINITION] })).toMatchObject({ satisfied: true, detail: { definitionId: DEFINITION }, reason: { key: 'criteria.reason.staffApproved' } });
    expect(root(tree, {}, dataScience, { staffApprovals: ['def-another'] })).toMatchObject({ satisfied: false, reason: { key: 'criteria.reason.staffApprovalPending' } });
  });
});

describe('evaluation', () => {
  const tree = criteria({ type: 'score', select: { lineItemId: quiz1 }, minPercent: 50 });

  it('is qualified exactly when the root is satisfied', () => {
    expect(evaluate({ id: DEFINITION, criteria: tree }, learner(dataScience, { [quiz1]: { score: 5 } })).qualified).toBe(true);
    expect(evaluate({ id: DEFINITION, criteria: tree }, learner(dataScience, { [quiz1]: { score: 4 } })).qualified).toBe(false);
  });

  it('is timed by now, else by the snapshot, never by the clock', () => {
    const snapshot = learner(dataScience, {});
    expect(evaluate({ id: DEFINITION, criteria: tree }, snapshot).evaluatedAt).toBe(FETCHED_AT);
    expect(evaluate({ id: DEFINITION, criteria: tree }, snapshot, new Date('2026-12-24T09:00:00+09:00')).evaluatedAt).toBe('2026-12-24T00:00:00.000Z');
    expect(evaluate({ id: DEFINITION, criteria: tree }, snapshot, new Date(NaN)).evaluatedAt).toBe(FETCHED_AT);
    expect(evaluate({ id: DEFINITION, criteria: tree }, { ...snapshot, fetchedAt: 'not a date' }).evaluatedAt).toBe('not a date');
  });

  it('gives the same result through compileCriteria as through evaluate', () => {
    const snapshot = learner(dataScience, { [quiz1]: { score: 7 } });
    expect(compileCriteria(tree).evaluate(DEFINITION, snapshot)).toEqual(evaluate({ id: DEFINITION, criteria: tree }, snapshot));
  });
});
