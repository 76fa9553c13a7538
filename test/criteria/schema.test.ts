import { MAX_DEPTH, MAX_NODES, parseCriteria, prerequisitesOf, validateAgainstGradebook } from '../../src/criteria/index.js';
import { criteria, dataScience, essay, final } from './builders.js';

const approval = { type: 'staffApproval' };

function errorsOf(input: unknown) {
  const parsed = parseCriteria(input);
  if (parsed.ok) throw new Error('expected the criteria to be rejected');
  return parsed.errors;
}

describe('parseCriteria accepts', () => {
  it('every node type, with ids and labels', () => {
    const tree = {
      type: 'allOf',
      id: 'all',
      label: { ja: '修了要件', en: 'Requirements' },
      children: [
        { type: 'score', select: { tag: 'quiz' }, minPercent: 60, requireCompleted: true, requireFullyGraded: true, window: { from: '2026-04-01T00:00:00+09:00', to: '2026-07-31T23:59:59+09:00' } },
        { type: 'score', select: { labelPattern: '/^第\\d+回/u' }, minPoints: 5 },
        { type: 'completion', select: { resourceLinkId: 'rl-1' }, require: 'fullyGraded' },
        { type: 'anyOf', children: [{ type: 'score', select: { lineItemId: essay }, minPoints: 70 }, { type: 'score', select: { resourceId: 'final-2026' }, minPercent: 80 }] },
        { type: 'atLeast', n: 1, children: [approval, { type: 'prerequisite', credentialId: 'def-python' }] },
        { type: 'weightedAverage', items: [{ select: { tag: 'quiz' }, weight: 1 }, { select: { lineItemId: final }, weight: 2.5 }], minPercent: 65 },
        { type: 'totalPoints', select: { tag: 'quiz' }, minPoints: 20 },
      ],
    };
    const parsed = parseCriteria(tree);
    expect(parsed).toEqual({ ok: true, criteria: tree });
  });

  it(`a tree ${MAX_DEPTH} levels deep and ${MAX_NODES} nodes large`, () => {
    let deep: object = approval;
    for (let depth = 1; depth < MAX_DEPTH; depth++) deep = { type: 'allOf', children: [deep] };
    expect(parseCriteria(deep).ok).toBe(true);
    // 1 root + 10 × (1 + 48) + 9 = 500 nodes.
    const wide = { type: 'allOf', children: [...Array.from({ length: 10 }, () => ({ type: 'anyOf', children: Array(48).fill(approval) })), ...Array(9).fill(approval)] };
    expect(parseCriteria(wide).ok).toBe(true);
  });
});

describe('parseCriteria rejects, with JSON pointer paths', () => {
  it.each<[string, unknown, { path: string; message: RegExp }]>([
    ['an unknown field', { type: 'allOf', children: [{ type: 'staffApproval', note: 'x' }] }, { path: '/children/0/note', message: /unknown field/ }],
    ['an unknown selector field', { type: 'score', select: { tag: 'q', colour: 'red' }, minPercent: 50 }, { path: '/select/colour', message: /unknown field/ }],
    ['an unknown node type', { type: 'allOf', children: [{ type: 'average' }] }, { path: '/children/0/type', message: /must be a criteria node with type/ }],
    ['n greater than the number of children', { type: 'atLeast', n: 3, children: [approval, approval] }, { path: '/n', message: /must not exceed the number of children \(2\)/ }],
    ['n of 0', { type: 'atLeast', n: 0, children: [approval] }, { path: '/n', message: /at least 1/ }],
    ['minPercent 120', { type: 'allOf', children: [approval, approval, { type: 'score', select: { tag: 'q' }, minPercent: 120 }] }, { path: '/children/2/minPercent', message: /between 0 and 100/ }],
    ['negative minPoints', { type: 'score', select: { tag: 'q' }, minPoints: -1 }, { path: '/minPoints', message: /not be negative/ }],
    ['negative totalPoints', { type: 'totalPoints', select: { tag: 'q' }, minPoints: -0.5 }, { path: '/minPoints', message: /not be negative/ }],
    ['both minPercent and minPoints', { type: 'score', select: { tag: 'q' }, minPercent: 50, minPoints: 3 }, { path: '/minPoints', message: /either minPercent or minPoints, not both/ }],
    ['neither minPercent nor minPoints', { type: 'score', select: { tag: 'q' } }, { path: '/', message: /needs minPercent or minPoints/ }],
    ['a regex that does not compile', { type: 'score', select: { labelPattern: '/(quiz/' }, minPercent: 50 }, { path: '/select/labelPattern', message: /invalid regular expression/ }],
    ['a stateful regex flag', { type: 'score', select: { labelPattern: '/quiz/g' }, minPercent: 50 }, { path: '/select/labelPattern', message: /flag "g" is not allowed/ }],
    ['a regex with nested repetition', { type: 'score', select: { labelPattern: '/^(\\w+\\s?)*$/' }, minPercent: 50 }, { path: '/select/labelPattern', message: /exponential time/ }],
    ['a label pattern over 200 characters', { type: 'score', select: { labelPattern: 'x'.repeat(201) }, minPercent: 50 }, { path: '/select/labelPattern', message: /at most 200/ }],
    ['two selector fields', { type: 'score', select: { tag: 'q', lineItemId: 'x' }, minPercent: 50 }, { path: '/select', message: /exactly one of .* \(found lineItemId, tag\)/ }],
    ['an empty selector', { type: 'totalPoints', select: {}, minPoints: 5 }, { path: '/select', message: /exactly one of/ }],
    ['a window that ends before it starts', { type: 'completion', select: { tag: 'q' }, require: 'completed', window: { from: '2026-02-01T00:00:00Z', to: '2026-01-31T00:00:00Z' } }, { path: '/window/to', message: /not be before from/ }],
    ['a window date that is not ISO 8601', { type: 'completion', select: { tag: 'q' }, require: 'completed', window: { to: '31/10/2026' } }, { path: '/window/to', message: /ISO 8601/ }],
    ['a completion requirement other than completed or fullyGraded', { type: 'completion', select: { tag: 'q' }, require: 'submitted' }, { path: '/require', message: /./ }],
    ['no children', { type: 'anyOf', children: [] }, { path: '/children', message: /at least one child/ }],
    ['more than 50 children', { type: 'anyOf', children: Array(51).fill(approval) }, { path: '/children', message: /at most 50/ }],
    ['a weight of 0', { type: 'weightedAverage', items: [{ select: { tag: 'q' }, weight: 0 }], minPercent: 50 }, { path: '/items/0/weight', message: /greater than 0/ }],
    ['requireCompleted: false', { type: 'score', select: { tag: 'q' }, minPercent: 50, requireCompleted: false }, { path: '/requireCompleted', message: /./ }],
    ['a duplicate node id', { type: 'allOf', children: [{ ...approval, id: 'ok' }, { ...approval, id: 'ok' }] }, { path: '/children/1/id', message: /duplicate node id "ok" \(also at \/children\/0\)/ }],
    ['the reserved id root below the root', { type: 'allOf', children: [{ ...approval, id: 'root' }] }, { path: '/children/0/id', message: /reserved/ }],
    ['an id with a dot', { type: 'staffApproval', id: 'a.b' }, { path: '/id', message: /letters, digits/ }],
    ['something that is not a node', 'allOf', { path: '/', message: /expected object/ }],
  ])('%s', (_case, input, expected) => {
    expect(errorsOf(input)).toEqual(expect.arrayContaining([{ path: expected.path, message: expect.stringMatching(expected.message) }]));
  });

  it(`nesting deeper than ${MAX_DEPTH} levels, without deep recursion on a hostile input`, () => {
    let deep: object = approval;
    for (let depth = 1; depth <= MAX_DEPTH; depth++) deep = { type: 'allOf', children: [deep] };
    expect(errorsOf(deep)).toEqual([{ path: `/${Array(MAX_DEPTH).fill('children/0').join('/')}`, message: `nesting is deeper than ${MAX_DEPTH} levels` }]);
    let hostile: object = approval;
    for (let depth = 0; depth < 200_000; depth++) hostile = { type: 'allOf', children: [hostile] };
    expect(errorsOf(hostile)[0]?.message).toBe(`nesting is deeper than ${MAX_DEPTH} levels`);
  });

  it(`more than ${MAX_NODES} nodes`, () => {
    const tooMany = { type: 'allOf', children: Array.from({ length: 11 }, () => ({ type: 'anyOf', children: Array(45).fill(approval) })) };
    expect(errorsOf(tooMany)).toEqual([{ path: '/', message: `the tree has more than ${MAX_NODES} nodes` }]);
    expect(errorsOf({ type: 'anyOf', children: Array(1_000_000).fill(approval) })).toEqual([{ path: '/', message: `the tree has more than ${MAX_NODES} nodes` }]);
  });

  it('reports every problem at once', () => {
    const errors = errorsOf({ type: 'allOf', children: [{ type: 'score', select: { tag: 'q' }, minPercent: 101 }, { type: 'totalPoints', select: { tag: 'q' }, minPoints: -1 }] });
    expect(errors.map((e) => e.path)).toEqual(['/children/0/minPercent', '/children/1/minPoints']);
  });
});

describe('validateAgainstGradebook', () => {
  const known = { credentialIds: ['A', 'B', 'C'] };

  it('accepts criteria whose selectors all match and whose prerequisites are known', () => {
    const tree = criteria({ type: 'allOf', children: [{ type: 'score', select: { tag: 'quiz' }, minPercent: 60 }, { type: 'prerequisite', credentialId: 'B' }] });
    expect(validateAgainstGradebook(tree, dataScience, { ...known, definitionId: 'A', prerequisiteGraph: { A: [], B: ['C'], C: [] } })).toEqual([]);
  });

  it('reports a selector that matches no line item', () => {
    const tree = criteria({
      type: 'allOf',
      children: [
        { type: 'score', select: { lineItemId: 'https://lms.example.ac.jp/ags/1/lineitems/99' }, minPercent: 60 },
        { type: 'weightedAverage', items: [{ select: { tag: 'quiz' }, weight: 1 }, { select: { labelPattern: '中間試験' }, weight: 1 }], minPercent: 60 },
        { type: 'totalPoints', select: { tag: 'quiz' }, minPoints: 10 },
      ],
    });
    expect(validateAgainstGradebook(tree, dataScience, known)).toEqual([
      { path: '/children/0/select', message: 'references a missing line item: no gradebook column matches line item id "https://lms.example.ac.jp/ags/1/lineitems/99"' },
      { path: '/children/1/items/1/select', message: 'references a missing line item: no gradebook column matches label pattern "中間試験"' },
    ]);
  });

  it('reports an unknown prerequisite', () => {
    const tree = criteria({ type: 'anyOf', children: [approval, { type: 'prerequisite', credentialId: 'Z' }] });
    expect(validateAgainstGradebook(tree, dataScience, known)).toEqual([{ path: '/children/1/credentialId', message: 'unknown prerequisite credential "Z"' }]);
  });

  it('reports a prerequisite cycle A → B → A', () => {
    const tree = criteria({ type: 'prerequisite', credentialId: 'B' });
    expect(validateAgainstGradebook(tree, dataScience, { ...known, definitionId: 'A', prerequisiteGraph: { A: [], B: ['A'] } })).toEqual([
      { path: '/credentialId', message: 'prerequisite cycle: A → B → A' },
    ]);
  });

  it('reports a longer cycle and a definition that requires itself', () => {
    const tree = criteria({ type: 'allOf', children: [{ type: 'prerequisite', credentialId: 'B' }, { type: 'prerequisite', credentialId: 'A' }] });
    expect(validateAgainstGradebook(tree, dataScience, { ...known, definitionId: 'A', prerequisiteGraph: { B: ['C'], C: ['A'] } })).toEqual([
      { path: '/children/0/credentialId', message: 'prerequisite cycle: A → B → C → A' },
      { path: '/children/1/credentialId', message: 'prerequisite cycle: A → A' },
    ]);
  });

  it('uses the new criteria for the definition itself, not its stored prerequisites, and survives cycles elsewhere', () => {
    const tree = criteria({ type: 'prerequisite', credentialId: 'B' });
    expect(validateAgainstGradebook(tree, dataScience, { ...known, definitionId: 'A', prerequisiteGraph: { A: ['B'], B: ['C'], C: ['B'] } })).toEqual([]);
  });
});

describe('prerequisitesOf', () => {
  it('lists each prerequisite once, in tree order', () => {
    const tree = criteria({ type: 'allOf', children: [{ type: 'prerequisite', credentialId: 'B' }, { type: 'anyOf', children: [{ type: 'prerequisite', credentialId: 'C' }, { type: 'prerequisite', credentialId: 'B' }] }, approval] });
    expect(prerequisitesOf(tree)).toEqual(['B', 'C']);
    expect(prerequisitesOf(criteria(approval))).toEqual([]);
  });
});
