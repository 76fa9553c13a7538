import { convertCredits, sumCredits } from '../../src/criteria/credits.js';
import { evaluatePathway, type HeldCredential, type PathwayRequirement } from '../../src/criteria/pathway.js';
import { pathwayDefinitionSchema } from '../../src/credentials/pathway-schema.js';
import { definitionCredits } from '../../src/credentials/definition-schema.js';

const OURS = 'did:web:badges.example.ac.jp:issuers:default';
const OTHER = 'did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK';
const UNKNOWN = 'did:web:diploma-mill.example';
const A = '11111111-1111-4111-8111-111111111111';
const B = '22222222-2222-4222-8222-222222222222';
const C = '33333333-3333-4333-8333-333333333333';

const local = (credentialId: string, id: string, credits?: HeldCredential['credits'], issuer = OURS): HeldCredential => ({ id, issuer, name: credentialId, ref: { kind: 'local', credentialId }, ...(credits ? { credits } : {}) });
const external = (achievementId: string, id: string, credits?: HeldCredential['credits'], issuer = OTHER): HeldCredential => ({ id, issuer, name: achievementId, ref: { kind: 'external', issuer, achievementId }, ...(credits ? { credits } : {}) });
const eligibility = { ownIssuer: OURS, acceptedIssuers: new Set([OTHER]) };
const listed = (...ids: string[]) => ids.map((credentialId) => ({ kind: 'local' as const, credentialId }));

describe('credit conversion through learning hours', () => {
  test('1 credit hour is 45 h and 1 ECTS 30 h: 1 credit hour = 1.5 ECTS', () => {
    expect(convertCredits({ amount: 1, system: 'creditHours' }, 'ects')).toBe(1.5);
    expect(convertCredits({ amount: 3, system: 'ects' }, 'creditHours')).toBe(2);
    expect(convertCredits({ amount: 2, system: 'ects' }, 'creditHours')).toBe(1.33);
    expect(convertCredits({ amount: 7.5, system: 'ects' }, 'ects')).toBe(7.5);
  });
  test('sums convert each credit, and stay free of floating-point dust', () => {
    expect(sumCredits([{ amount: 0.1, system: 'ects' }, { amount: 0.2, system: 'ects' }], 'ects')).toBe(0.3);
    expect(sumCredits([{ amount: 2, system: 'ects' }, { amount: 2, system: 'creditHours' }], 'ects')).toBe(5);
    expect(sumCredits([], 'creditHours')).toBe(0);
  });
  test('a definition states credits in one system', () => {
    expect(definitionCredits({ ectsCredits: 5 })).toEqual({ amount: 5, system: 'ects' });
    expect(definitionCredits({ creditHours: 2 })).toEqual({ amount: 2, system: 'creditHours' });
    expect(definitionCredits({})).toBeUndefined();
  });
});

describe('evaluatePathway', () => {
  test('allOf needs every listed credential; it says which are held', () => {
    const req: PathwayRequirement = { credentials: listed(A, B), rule: 'allOf' };
    const partial = evaluatePathway(req, eligibility, [local(A, 'urn:a')]);
    expect(partial).toMatchObject({ satisfied: false, met: 1, needed: 2, basis: ['urn:a'] });
    expect(partial.listed).toEqual([{ ref: { kind: 'local', credentialId: A }, heldId: 'urn:a' }, { ref: { kind: 'local', credentialId: B } }]);
    expect(evaluatePathway(req, eligibility, [local(A, 'urn:a'), local(B, 'urn:b')])).toMatchObject({ satisfied: true, met: 2 });
  });

  test('anyOf needs one; atLeast N of M needs N', () => {
    expect(evaluatePathway({ credentials: listed(A, B, C), rule: 'anyOf' }, eligibility, [local(C, 'urn:c')])).toMatchObject({ satisfied: true, needed: 1 });
    const twoOfThree: PathwayRequirement = { credentials: listed(A, B, C), rule: 'atLeast', count: 2 };
    expect(evaluatePathway(twoOfThree, eligibility, [local(C, 'urn:c')]).satisfied).toBe(false);
    expect(evaluatePathway(twoOfThree, eligibility, [local(C, 'urn:c'), local(A, 'urn:a')])).toMatchObject({ satisfied: true, met: 2 });
  });

  test('two revisions of one credential count once', () => {
    const req: PathwayRequirement = { credentials: listed(A, B), rule: 'atLeast', count: 2, minCredits: { amount: 4, system: 'ects' } };
    const progress = evaluatePathway(req, eligibility, [local(A, 'urn:a1', { amount: 2, system: 'ects' }), local(A, 'urn:a2', { amount: 3, system: 'ects' })]);
    expect(progress).toMatchObject({ satisfied: false, met: 1, credits: { earned: 3 } });
  });

  test('credits count from the listed credentials, converted into the pathway\'s system', () => {
    const req: PathwayRequirement = { credentials: listed(A, B), rule: 'anyOf', minCredits: { amount: 5, system: 'ects' } };
    const held = [local(A, 'urn:a', { amount: 2, system: 'ects' }), local(B, 'urn:b', { amount: 2, system: 'creditHours' }), local(C, 'urn:c', { amount: 10, system: 'ects' })];
    const progress = evaluatePathway(req, eligibility, held);
    expect(progress.credits).toEqual({ required: 5, earned: 5, system: 'ects', counted: ['urn:a', 'urn:b'] });
    expect(progress.satisfied).toBe(true);
    expect(new Set(progress.basis)).toEqual(new Set(['urn:a', 'urn:b']));
  });

  test('with none listed, every eligible credential counts toward the credits', () => {
    const req: PathwayRequirement = { credentials: [], rule: 'allOf', minCredits: { amount: 3, system: 'creditHours' } };
    const held = [local(A, 'urn:a', { amount: 3, system: 'ects' }), external('https://other.example/a/1', 'urn:x', { amount: 1.5, system: 'ects' })];
    expect(evaluatePathway(req, eligibility, held)).toMatchObject({ satisfied: true, needed: 0, credits: { earned: 3, system: 'creditHours' } });
  });

  test('only the pathway issuer\'s own credentials and accepted issuers\' count', () => {
    const req: PathwayRequirement = { credentials: [], rule: 'allOf', minCredits: { amount: 1, system: 'ects' } };
    const fromElsewhere = [external('https://mill.example/a', 'urn:m', { amount: 60, system: 'ects' }, UNKNOWN), local(A, 'urn:a', { amount: 30, system: 'ects' }, 'did:web:another-installation.example')];
    expect(evaluatePathway(req, eligibility, fromElsewhere)).toMatchObject({ satisfied: false, credits: { earned: 0, counted: [] } });
  });

  test('an external achievement is matched by issuer and achievement id together', () => {
    const ref = { kind: 'external' as const, issuer: OTHER, achievementId: 'https://other.example/a/1' };
    const req: PathwayRequirement = { credentials: [ref], rule: 'allOf' };
    expect(evaluatePathway(req, eligibility, [external('https://other.example/a/1', 'urn:x')]).satisfied).toBe(true);
    expect(evaluatePathway(req, { ...eligibility, acceptedIssuers: new Set([OTHER, UNKNOWN]) }, [external('https://other.example/a/1', 'urn:y', undefined, UNKNOWN)]).satisfied).toBe(false);
  });
});

describe('pathway definitions', () => {
  const base = { name: 'Certificate', description: 'Stacked.', criteriaNarrative: 'Both.', language: 'en', version: '1' };
  const messages = (input: unknown) => {
    const parsed = pathwayDefinitionSchema.safeParse(input);
    return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('/')}: ${i.message}`);
  };
  test('a pathway asks for credentials, credits, or both', () => {
    expect(messages({ ...base })).toEqual(['credentials: list the credentials it stacks, or set a minimum of credits, or both']);
    expect(messages({ ...base, minCredits: { amount: 30, system: 'ects' } })).toEqual([]);
  });
  test('atLeast says how many, and no more than are listed', () => {
    expect(messages({ ...base, credentials: listed(A, B), rule: 'atLeast' })).toEqual(['count: say how many of the listed credentials are needed']);
    expect(messages({ ...base, credentials: listed(A, B), rule: 'atLeast', count: 3 })).toEqual(['count: cannot need more than the 2 credentials listed']);
  });
  test('an external credential needs its issuer accepted, and nothing is listed twice', () => {
    const ref = { kind: 'external', issuer: OTHER, achievementId: 'https://other.example/a/1' };
    expect(messages({ ...base, credentials: [ref] })).toEqual(['credentials/0/issuer: add this issuer to the accepted issuers first']);
    expect(messages({ ...base, credentials: listed(A, A) })).toEqual(['credentials: a credential is listed twice']);
  });
});
