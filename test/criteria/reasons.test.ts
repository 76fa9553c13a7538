import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { REASON_KEYS, evaluate, type Reason } from '../../src/criteria/index.js';
import { describeReason, explain } from '../../src/criteria/describe.js';
import { LANGUAGES } from '../../src/web/i18n.js';
import { DEFINITION, snapshotArb, treeArb, valid } from './arbitraries.js';
import { criteria, dataScience, essay, final, learner, quiz1, quiz2, quiz3 } from './builders.js';

type Texts = { [key: string]: string | Texts };
const locale = (lang: string): Texts => (JSON.parse(readFileSync(`config/locales/${lang}.json`, 'utf8')) as { criteria: Texts }).criteria;

function flatKeys(texts: Texts, prefix = 'criteria'): string[] {
  return Object.entries(texts).flatMap(([k, v]) => (typeof v === 'string' ? [`${prefix}.${k}`] : flatKeys(v, `${prefix}.${k}`)));
}

// Every parameter any reason may carry, so each text renders completely.
const ALL_PARAMS = {
  label: '小テスト1', score: 7, maximum: 10, percent: 70, required: 80, weight: 2, matched: 3, satisfiedCount: 2, n: 2,
  selectorKind: 'tag', selectorValue: 'quiz', credentialId: 'def-python',
  scoredAt: '2026-11-01T01:00:00Z', fromAt: '2026-10-01T00:00:00+09:00', toAt: '2026-10-31T23:59:59+09:00',
};

function expectRendered(text: string, key: string): void {
  expect(text).not.toBe(key);
  expect(text).not.toMatch(/\{\{|\}\}|criteria\./);
  expect(text.trim()).not.toBe('');
}

describe('reason texts', () => {
  it.each([...REASON_KEYS])('%s exists in English and Japanese', (key) => {
    for (const count of [1, 3]) {
      const reason = { key, params: { ...ALL_PARAMS, count } };
      const en = describeReason(reason, 'en');
      const ja = describeReason(reason, 'ja');
      expectRendered(en, key);
      expectRendered(ja, key);
      // Not an English fallback: Japanese has its own text.
      expect(ja).not.toBe(en);
    }
    const ja = flatKeys(locale('ja'));
    expect(ja.includes(key) || ja.includes(`${key}_other`)).toBe(true);
  });

  it('every selector kind and score phrase exists in both languages', () => {
    for (const lang of LANGUAGES) {
      for (const selectorKind of ['lineItemId', 'resourceLinkId', 'resourceId', 'tag', 'labelPattern']) {
        expectRendered(describeReason({ key: 'criteria.reason.noMatch', params: { selectorKind, selectorValue: 'x' } }, lang), selectorKind);
      }
      expect(describeReason({ key: 'criteria.reason.pointsItem', params: { label: 'Bonus', score: 3, maximum: 0 } }, lang)).toMatch(/3/);
    }
  });

  it('English and Japanese have the same keys, apart from English plural forms', () => {
    const en = flatKeys(locale('en')).map((k) => k.replace(/_(one|other)$/, '')).sort();
    const ja = flatKeys(locale('ja')).map((k) => k.replace(/_other$/, '')).sort();
    expect([...new Set(ja)]).toEqual([...new Set(en)]);
  });

  it('reads naturally in both languages', () => {
    const short: Reason = { key: 'criteria.reason.scorePercentShort', params: { label: '小テスト1', score: 7, maximum: 10, percent: 70, required: 80 } };
    expect(describeReason(short, 'ja')).toBe('小テスト1：10点中7点（70%）。80%以上が必要です');
    expect(describeReason({ ...short, params: { ...short.params, label: 'Quiz 1' } }, 'en')).toBe('Quiz 1: 7 of 10 points (70%); at least 80% needed');
    const parts: Reason = { key: 'criteria.reason.allOfShort', params: { count: 3, satisfiedCount: 2 } };
    expect(describeReason(parts, 'en')).toBe('2 of 3 required parts done');
    expect(describeReason(parts, 'ja')).toBe('必要な3項目のうち2項目を達成しています');
    expect(describeReason({ key: 'criteria.reason.allOfMet', params: { count: 1, satisfiedCount: 1 } }, 'en')).toBe('The required part is done');
    const noMatch: Reason = { key: 'criteria.reason.noMatch', params: { selectorKind: 'tag', selectorValue: 'quiz' } };
    expect(describeReason(noMatch, 'en')).toBe('No gradebook column matches tag "quiz"');
    expect(describeReason(noMatch, 'ja')).toBe('タグ「quiz」に一致する評定項目がありません');
    expect(describeReason({ key: 'criteria.reason.staffApprovalPending', params: {} }, 'ja')).toBe('教員の承認待ちです');
  });

  it('shows dates in the offset they were written with', () => {
    const late: Reason = { key: 'criteria.reason.scoredAfterWindow', params: { label: '期末試験', scoredAt: '2026-11-01T01:00:00Z', toAt: '2026-10-31T23:59:59+09:00' } };
    expect(describeReason(late, 'en')).toBe('期末試験: scored 1 Nov 2026, 01:00 UTC, after the deadline (31 Oct 2026, 23:59 UTC+09:00), so it does not count');
    expect(describeReason(late, 'ja')).toBe('期末試験：採点日時（2026/11/01 1:00 UTC）が締切（2026/10/31 23:59 UTC+09:00）より後のため、対象になりません');
  });

  it('does not interpolate what a label contains', () => {
    const reason: Reason = { key: 'criteria.reason.notAttempted', params: { label: 'Quiz {{score}} $t(criteria.labelled)' } };
    expect(describeReason(reason, 'en')).toBe('Quiz {{score}} $t(criteria.labelled): not attempted yet');
  });
});

describe('explain', () => {
  it('renders every node, root first, in both languages, with node labels', () => {
    const tree = criteria({
      type: 'allOf',
      children: [
        { type: 'score', label: { ja: '小テスト', en: 'Quizzes' }, select: { tag: 'quiz' }, minPercent: 60 },
        { type: 'anyOf', children: [{ type: 'score', select: { lineItemId: essay }, minPoints: 70 }, { type: 'score', select: { lineItemId: final }, minPercent: 80 }] },
      ],
    });
    const evaluation = evaluate({ id: DEFINITION, criteria: tree }, learner(dataScience, { [quiz1]: { score: 8 }, [quiz2]: { score: 6 }, [quiz3]: { score: 7 }, [essay]: { score: 72 } }));
    const explained = explain(evaluation);
    expect(explained.progress).toBe(evaluation.progress);
    expect(explained.reasons.en).toEqual([
      'All 2 required parts are done',
      'Quizzes — All 3 columns matching tag "quiz" meet the requirement',
      '第1回 小テスト: 8 of 10 points (80%), meeting the required 60%',
      '第2回 小テスト: 6 of 10 points (60%), meeting the required 60%',
      '第3回 小テスト: 7 of 10 points (70%), meeting the required 60%',
      '1 of 2 alternatives done; one is enough',
      'レポート課題: 72 of 100 points, meeting the required 70 points',
      '期末試験: not attempted yet',
    ]);
    expect(explained.reasons.ja).toEqual([
      '必要な2項目をすべて達成しています',
      '【小テスト】タグ「quiz」に一致する3項目すべてが条件を満たしています',
      '第1回 小テスト：10点中8点（80%）。必要な60%以上を満たしています',
      '第2回 小テスト：10点中6点（60%）。必要な60%以上を満たしています',
      '第3回 小テスト：10点中7点（70%）。必要な60%以上を満たしています',
      '2つの選択肢のうち1つを達成しています（1つで十分です）',
      'レポート課題：100点中72点。必要な70点以上を満たしています',
      '期末試験：まだ取り組んでいません',
    ]);
  });

  it('renders whatever an evaluation emits, completely, in both languages', () => {
    fc.assert(fc.property(treeArb(false), snapshotArb, (tree, snapshot) => {
      const { reasons } = explain(evaluate({ id: DEFINITION, criteria: valid(tree) }, snapshot));
      for (const lang of LANGUAGES) for (const line of reasons[lang]) expectRendered(line, '');
    }), { numRuns: 100 });
  });
});
