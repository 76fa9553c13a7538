import { CLR_V2, CREDENTIALS_V2, OPEN_BADGES_V3 } from './contexts.js';
import { issuerProfile, type IssuerProfile } from './credential.js';
import { asList, asObject } from './json-values.js';

/**
 * Builds the unsigned ClrCredential (1EdTech Comprehensive Learner Record 2.0) that gathers a
 * learner's signed Open Badges credentials. Pure: everything it says comes from its input.
 */

/** CLR 2.0's AssociationType enumeration. */
export type ClrAssociationType = 'exactMatchOf' | 'isChildOf' | 'isParentOf' | 'isPartOf' | 'isPeerOf' | 'isRelatedTo' | 'precedes' | 'replacedBy';

/** How one achievement relates to another, both named by their ids. */
export interface ClrAssociation {
  associationType: ClrAssociationType;
  sourceId: string;
  targetId: string;
}

export interface ClrInput {
  /** urn:uuid of this CLR. */
  id: string;
  issuer: IssuerProfile;
  name: string;
  description?: string;
  validFrom: string;
  /** IdentityObjects naming the learner, as in OB credentials (type IdentityObject, hashed, identityHash, identityType, salt?). */
  identifier: Array<Record<string, unknown>>;
  /** Signed OB 3.0 credentials (ours and imported ones), embedded whole with their proofs. */
  credentials: Array<Record<string, unknown>>;
  associations: ClrAssociation[];
}

/** CLR 2.0 requires these first, in this order. */
const REQUIRED_CONTEXTS = [CREDENTIALS_V2, CLR_V2, OPEN_BADGES_V3];

export function buildClrCredential(input: ClrInput): Record<string, unknown> {
  if (input.credentials.length === 0) throw new Error('a ClrCredential must hold at least one credential');
  // The achievements are copied out of the credentials into the CLR's own graph, so the CLR's
  // @context must define every term they use: the credentials' further contexts (e.g. the
  // extension context) follow the required three.
  const further = input.credentials.flatMap((c) => asList(c['@context'])).filter((c): c is string => typeof c === 'string' && !REQUIRED_CONTEXTS.includes(c));
  const achievements = new Map<unknown, Record<string, unknown>>();
  for (const credential of input.credentials) {
    for (const achievement of asList(asObject(credential.credentialSubject)?.achievement).map(asObject)) {
      // One without an id cannot be matched to another: each stays.
      if (achievement && !achievements.has(achievement.id ?? achievement)) achievements.set(achievement.id ?? achievement, achievement);
    }
  }
  return {
    '@context': [...REQUIRED_CONTEXTS, ...new Set(further)],
    id: input.id,
    type: ['VerifiableCredential', 'ClrCredential'],
    name: input.name,
    ...(input.description ? { description: input.description } : {}),
    issuer: issuerProfile(input.issuer),
    validFrom: input.validFrom,
    partial: false,
    credentialSubject: {
      type: ['ClrSubject'],
      identifier: input.identifier,
      achievement: [...achievements.values()],
      verifiableCredential: input.credentials,
      ...(input.associations.length
        ? { association: input.associations.map((a) => ({ type: 'Association', associationType: a.associationType, sourceId: a.sourceId, targetId: a.targetId })) }
        : {}),
    },
  };
}
