import { convertCredits, sumCredits, type Credits, type CreditSystem } from './credits.js';

/**
 * Whether the credentials a learner holds satisfy a pathway, and what is still missing. Pure: the
 * holdings come in, the verdict goes out.
 */

/** A credential a pathway asks for: one of this tool's course credentials, or another issuer's achievement. */
export type CredentialRef =
  | { kind: 'local'; credentialId: string }
  | { kind: 'external'; issuer: string; achievementId: string };

export interface PathwayRequirement {
  credentials: CredentialRef[];
  /** allOf: every listed credential; anyOf: one of them; atLeast: `count` of them. */
  rule: 'allOf' | 'anyOf' | 'atLeast';
  count?: number | undefined;
  minCredits?: Credits | undefined;
}

/** One credential the learner holds (live: not revoked, not expired). */
export interface HeldCredential {
  /** The credential's own id, e.g. urn:uuid:… */
  id: string;
  /** The DID of its issuer. */
  issuer: string;
  /** What it is a credential of. */
  ref: CredentialRef;
  name: string;
  credits?: Credits | undefined;
}

export interface PathwayEligibility {
  /** The DID of the pathway's issuer: only its own course credentials count. */
  ownIssuer: string;
  /** Other issuers whose credentials the pathway accepts. */
  acceptedIssuers: ReadonlySet<string>;
}

export interface PathwayProgress {
  satisfied: boolean;
  /** Each listed credential, with the id of the held credential that meets it, if any. */
  listed: Array<{ ref: CredentialRef; heldId?: string }>;
  needed: number;
  met: number;
  credits?: { required: number; earned: number; system: CreditSystem; counted: string[] };
  /** The held credentials the verdict stands on: kept with the award. */
  basis: string[];
}

export const refKey = (ref: CredentialRef): string => (ref.kind === 'local' ? `local:${ref.credentialId}` : `external:${ref.issuer} ${ref.achievementId}`);

function eligible(held: HeldCredential, e: PathwayEligibility): boolean {
  return held.ref.kind === 'local' ? held.issuer === e.ownIssuer : e.acceptedIssuers.has(held.issuer);
}

/** The learner's eligible credentials, one per achievement (several revisions of one credential count once, the most credits kept). */
function distinctByAchievement(held: readonly HeldCredential[], e: PathwayEligibility): Map<string, HeldCredential> {
  const byRef = new Map<string, HeldCredential>();
  for (const h of held) {
    if (!eligible(h, e)) continue;
    const key = refKey(h.ref);
    const kept = byRef.get(key);
    const amount = (c?: Credits) => (c ? convertCredits(c, 'ects') : -1);
    if (!kept || amount(h.credits) > amount(kept.credits)) byRef.set(key, h);
  }
  return byRef;
}

export function neededCount(r: Pick<PathwayRequirement, 'rule' | 'count' | 'credentials'>): number {
  if (r.credentials.length === 0) return 0;
  return r.rule === 'allOf' ? r.credentials.length : r.rule === 'anyOf' ? 1 : Math.min(r.count ?? 1, r.credentials.length);
}

export function evaluatePathway(requirement: PathwayRequirement, eligibility: PathwayEligibility, held: readonly HeldCredential[]): PathwayProgress {
  const distinct = distinctByAchievement(held, eligibility);
  const listed = requirement.credentials.map((ref) => {
    const match = distinct.get(refKey(ref));
    return match ? { ref, heldId: match.id } : { ref };
  });
  const needed = neededCount(requirement);
  const met = listed.filter((l) => l.heldId).length;
  const basis = new Set(listed.flatMap((l) => (l.heldId ? [l.heldId] : [])));

  let credits: PathwayProgress['credits'];
  if (requirement.minCredits) {
    // Listed credentials are the ones whose credits count; with none listed, every eligible one does.
    const listedKeys = new Set(requirement.credentials.map(refKey));
    const pool = [...distinct.entries()].filter(([key, h]) => h.credits && (listedKeys.size === 0 || listedKeys.has(key))).map(([, h]) => h);
    const { system, amount } = requirement.minCredits;
    credits = { required: amount, earned: sumCredits(pool.map((h) => h.credits!), system), system, counted: pool.map((h) => h.id) };
    for (const h of pool) basis.add(h.id);
  }
  const satisfied = met >= needed && (!credits || credits.earned >= credits.required);
  return { satisfied, listed, needed, met, ...(credits ? { credits } : {}), basis: [...basis] };
}
