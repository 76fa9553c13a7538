import { parseCriteria, type Criteria } from '../../src/criteria/index.js';
import type { GradebookLineItem, GradebookResult, LearnerSnapshot } from '../../src/gradebook/types.js';

export const FETCHED_AT = '2026-11-01T00:00:00.000Z';

export function item(id: string, label: string, scoreMaximum = 10, extra: Partial<GradebookLineItem> = {}): GradebookLineItem {
  return { id, label, scoreMaximum, ...extra };
}

export type ResultInput = Omit<GradebookResult, 'lineItemId' | 'maximum'> & { maximum?: number };

/** A learner's snapshot; a result's maximum defaults to its line item's scoreMaximum, as AGS gives it. */
export function learner(lineItems: GradebookLineItem[], results: Record<string, ResultInput>, extra: Partial<LearnerSnapshot> = {}): LearnerSnapshot {
  return {
    userId: 'learner-1',
    fetchedAt: FETCHED_AT,
    lineItems,
    results: Object.fromEntries(Object.entries(results).map(([id, r]) => [id, {
      lineItemId: id,
      maximum: lineItems.find((i) => i.id === id)?.scoreMaximum ?? 0,
      ...r,
    }])),
    heldCredentials: [],
    staffApprovals: [],
    ...extra,
  };
}

/** Parses criteria the way the app does, failing the test on a schema error. */
export function criteria(input: unknown): Criteria {
  const parsed = parseCriteria(input);
  if (!parsed.ok) throw new Error(`invalid criteria in test: ${JSON.stringify(parsed.errors)}`);
  return parsed.criteria;
}

/** The gradebook of 「データサイエンス入門」, used across tests and in docs/criteria.md. */
export const dataScience: GradebookLineItem[] = [
  item('https://lms.example.ac.jp/ags/1/lineitems/1', '第1回 小テスト', 10, { tag: 'quiz', resourceLinkId: 'rl-quiz-1' }),
  item('https://lms.example.ac.jp/ags/1/lineitems/2', '第2回 小テスト', 10, { tag: 'quiz', resourceLinkId: 'rl-quiz-2' }),
  item('https://lms.example.ac.jp/ags/1/lineitems/3', '第3回 小テスト', 10, { tag: 'quiz', resourceLinkId: 'rl-quiz-3' }),
  item('https://lms.example.ac.jp/ags/1/lineitems/4', 'レポート課題', 100, { tag: 'essay', resourceId: 'essay-2026' }),
  item('https://lms.example.ac.jp/ags/1/lineitems/5', '期末試験', 100, { tag: 'exam', resourceId: 'final-2026' }),
];

export const [quiz1, quiz2, quiz3, essay, final] = dataScience.map((i) => i.id) as [string, string, string, string, string];
