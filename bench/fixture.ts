/**
 * The benchmark course, shared by both benchmarks: 40 gradebook columns (20 quizzes, 10 labs,
 * 6 essays, 4 exams), deterministic pseudo-random scores, and a criteria tree that uses every
 * gradebook node type. Pure data: no I/O.
 */
import type { Criteria } from '../src/criteria/index.js';
import type { DefinitionInput } from '../src/credentials/definition-schema.js';

export interface Column {
  label: string;
  scoreMaximum: number;
  tag: 'quiz' | 'lab' | 'essay' | 'exam';
}

export const COLUMNS: Column[] = [
  ...Array.from({ length: 20 }, (_, i): Column => ({ label: `第${i + 1}回 小テスト / Quiz ${i + 1}`, scoreMaximum: 10, tag: 'quiz' })),
  ...Array.from({ length: 10 }, (_, i): Column => ({ label: `Python 演習 ${i + 1} / Lab ${i + 1}`, scoreMaximum: 20, tag: 'lab' })),
  ...Array.from({ length: 6 }, (_, i): Column => ({ label: `レポート課題 ${i + 1} / Essay ${i + 1}`, scoreMaximum: 100, tag: 'essay' })),
  { label: '中間試験 / Midterm exam', scoreMaximum: 100, tag: 'exam' },
  { label: '期末試験 / Final exam', scoreMaximum: 100, tag: 'exam' },
  { label: '実技試験 / Practical exam', scoreMaximum: 50, tag: 'exam' },
  { label: '口頭試問 / Oral exam', scoreMaximum: 20, tag: 'exam' },
];

/** Share of learner × column pairs with no result at all (not attempted). */
export const MISSING_SHARE = 0.15;
/** Share of attempted pairs whose result has no score (posted, not graded). */
export const NULL_SHARE = 0.02;

/** mulberry32: a small, fast, deterministic PRNG. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Cell = { kind: 'missing' } | { kind: 'null' } | { kind: 'score'; score: number };

/**
 * Learner `index`'s results, one cell per column: each learner has an ability in [0.35, 1), and each
 * score is that ability ± 0.25, rounded to 0.1 point. The same index always gives the same cells.
 */
export function learnerCells(index: number): Cell[] {
  const rand = prng(0x9e3779b9 ^ Math.imul(index + 1, 0x85ebca6b));
  const ability = 0.35 + rand() * 0.65;
  return COLUMNS.map((col): Cell => {
    const r = rand();
    if (r < MISSING_SHARE) return { kind: 'missing' };
    if (r < MISSING_SHARE + NULL_SHARE) return { kind: 'null' };
    const ratio = Math.min(1, Math.max(0, ability + (rand() - 0.5) * 0.5));
    return { kind: 'score', score: Math.round(col.scoreMaximum * ratio * 10) / 10 };
  });
}

/**
 * A realistic tree (about 100 progress entries per learner): allOf / anyOf / atLeast, score leaves
 * by tag and by label pattern (substring and regex), weightedAverage, totalPoints, completion.
 */
export const CRITERIA: Criteria = {
  type: 'allOf',
  label: { ja: 'データサイエンス入門 修了要件', en: 'Introduction to Data Science: requirements' },
  children: [
    {
      id: 'quizzes', type: 'atLeast', n: 2, label: { ja: '小テスト', en: 'Quizzes' },
      children: [
        { id: 'everyQuiz', type: 'score', select: { tag: 'quiz' }, minPercent: 30 },
        { id: 'quizAverage', type: 'weightedAverage', minPercent: 60, items: [{ select: { tag: 'quiz' }, weight: 1 }] },
        { id: 'quizTotal', type: 'totalPoints', select: { labelPattern: '/^第\\d+回 小テスト/u' }, minPoints: 110 },
      ],
    },
    {
      id: 'labs', type: 'atLeast', n: 3, label: { ja: 'Python 演習', en: 'Python labs' },
      children: [1, 2, 3, 4, 5].map((k) => ({ id: `lab${k}`, type: 'completion' as const, select: { labelPattern: `/Lab ${k}$/` }, require: 'completed' as const })),
    },
    {
      id: 'coursework', type: 'weightedAverage', minPercent: 55, label: { ja: '総合評価', en: 'Overall' },
      items: [
        { select: { tag: 'quiz' }, weight: 1 },
        { select: { tag: 'lab' }, weight: 2 },
        { select: { tag: 'essay' }, weight: 3 },
        { select: { labelPattern: 'exam' }, weight: 4 },
      ],
    },
    {
      id: 'essayOrFinal', type: 'anyOf', label: { ja: 'レポートまたは期末試験', en: 'Essay or final exam' },
      children: [
        { id: 'final', type: 'score', select: { labelPattern: '期末試験' }, minPercent: 60 },
        { id: 'essays', type: 'score', select: { tag: 'essay' }, minPoints: 40, requireFullyGraded: true },
      ],
    },
    { id: 'examPoints', type: 'totalPoints', select: { tag: 'exam' }, minPoints: 150 },
  ],
};

export const DEFINITION: DefinitionInput = {
  name: 'データサイエンス入門 / Introduction to Data Science (benchmark)',
  description: 'Certifies completion of the benchmark course.',
  criteriaNarrative: 'Quizzes, labs, coursework average, an essay or the final exam, and exam points.',
  language: 'ja',
  version: '2026',
  learningOutcomes: ['データの種類を説明できる', 'Python で記述統計を計算できる'],
  workloadHours: 30,
  ectsCredits: 1,
  eqfLevel: 5,
  assessmentTypes: ['test', 'assignment', 'exam'],
  participation: 'online',
  qualityAssurance: 'Reviewed by the faculty curriculum committee',
  awardingBody: { name: 'Example University', url: 'https://www.example.ac.jp' },
  awardingCountry: 'JP',
};
