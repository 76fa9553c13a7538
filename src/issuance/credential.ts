import { createHash } from 'node:crypto';
import type { Definition } from '../credentials/definition-schema.js';
import { CREDENTIALS_V2, OPEN_BADGES_V3 } from './contexts.js';

/**
 * Builds the unsigned OpenBadgeCredential (Open Badges 3.0, VC Data Model 2.0) for one award.
 * Pure: everything it says comes from its input. Each EU micro-credential element goes to an OB 3.0
 * term where one exists; the rest to the tool's extension context (extensionContext()), so that no
 * term is undefined.
 */

export const ACHIEVEMENT_CREDENTIAL_SCHEMA = 'https://purl.imsglobal.org/spec/ob/v3p0/schema/json/ob_v3p0_achievementcredential-jsonschema1.json';
/** ESCO/Europass publish the EQF levels as concepts: http://data.europa.eu/snb/eqf/<level>. */
const EQF_LEVEL = 'http://data.europa.eu/snb/eqf/';

export interface IssuerProfile {
  /** did:web under PUBLIC_URL. */
  id: string;
  name: string;
  url?: string;
  email?: string;
  description?: string;
  /** ISO 3166-1 alpha-2. */
  countryCode?: string;
}

export interface AwardedLearner {
  /** The LTI `sub`, scoped to its platform. */
  userId: string;
  platformIssuer: string;
  /** Shared by the LMS; only its salted SHA-256 goes into the credential. */
  email?: string;
  name?: string;
}

export interface CredentialInput {
  /** urn:uuid of this credential. */
  id: string;
  /** Where the Achievement (this credential revision) is published. */
  achievementId: string;
  definition: Definition;
  issuer: IssuerProfile;
  learner: AwardedLearner;
  /** Per credential, random: keeps the email hash from being matched across credentials. */
  salt: string;
  course: { title: string; url?: string };
  activity: { startDate?: string; endDate?: string };
  validFrom: string;
  validUntil?: string;
  /** The extension context's URL for this installation (extensionContext().url). */
  extensionContextUrl: string;
  /** The credential's BitstringStatusListEntry (statusListEntry()). */
  credentialStatus?: Record<string, unknown>;
}

export function identityHash(value: string, salt: string): string {
  return `sha256$${createHash('sha256').update(value + salt, 'utf8').digest('hex')}`;
}

/** The Achievement of a definition's revision, as credentials carry it and /achievements/... publishes it. */
export function buildAchievement(d: Definition, achievementId: string, issuerId: string): Record<string, unknown> {
  const alignments = [
    ...d.alignments.map((a) => ({ type: ['Alignment'], ...a })),
    {
      type: ['Alignment'], targetName: `EQF level ${d.eqfLevel}`, targetUrl: `${EQF_LEVEL}${d.eqfLevel}`,
      targetFramework: 'European Qualifications Framework', targetCode: String(d.eqfLevel), targetType: 'ext:EQFLevel',
    },
  ];
  const creator = {
    id: d.awardingBody.url ?? issuerId,
    type: ['Profile'],
    name: d.awardingBody.name,
    ...(d.awardingBody.url ? { url: d.awardingBody.url } : {}),
    address: { type: ['Address'], addressCountryCode: d.awardingCountry },
  };
  return {
    id: achievementId,
    type: ['Achievement'],
    achievementType: 'MicroCredential',
    name: d.name,
    description: d.description,
    criteria: { narrative: d.criteriaNarrative },
    ...(d.image ? { image: { id: d.image.url, type: 'Image', ...(d.image.caption ? { caption: d.image.caption } : {}) } } : {}),
    ...(d.tags.length ? { tag: d.tags } : {}),
    alignment: alignments,
    // OB 3.0 counts creditsAvailable in credits without naming a system; the system is said beside it.
    ...(d.ectsCredits !== undefined ? { creditsAvailable: d.ectsCredits, creditSystem: 'ECTS' } : {}),
    creator,
    inLanguage: d.language,
    version: d.version,
    // EU elements without an OB 3.0 term: the extension context.
    learningOutcome: d.learningOutcomes,
    workloadHours: d.workloadHours,
    ...(d.nqfLevel ? { nqfLevel: d.nqfLevel } : {}),
    assessmentType: d.assessmentTypes,
    participationMode: d.participation,
    qualityAssurance: d.qualityAssurance,
    ...(d.prerequisitesText ? { prerequisites: d.prerequisitesText } : {}),
    ...(d.supervision ? { supervision: d.supervision } : {}),
    ...(d.identityVerified !== undefined ? { identityVerified: d.identityVerified } : {}),
    ...(d.stackability ? { stackability: d.stackability } : {}),
  };
}

/** The issuer as a Profile, inside credentials and as served at the issuer's URL. */
export function issuerProfile(issuer: IssuerProfile): Record<string, unknown> {
  return {
    id: issuer.id,
    type: ['Profile'],
    name: issuer.name,
    ...(issuer.url ? { url: issuer.url } : {}),
    ...(issuer.email ? { email: issuer.email } : {}),
    ...(issuer.description ? { description: issuer.description } : {}),
    ...(issuer.countryCode ? { address: { type: ['Address'], addressCountryCode: issuer.countryCode } } : {}),
  };
}

export function buildOpenBadgeCredential(input: CredentialInput): Record<string, unknown> {
  const d = input.definition;
  const identifier = [
    ...(input.learner.email ? [{ type: 'IdentityObject', hashed: true, identityHash: identityHash(input.learner.email.trim().toLowerCase(), input.salt), identityType: 'emailAddress', salt: input.salt }] : []),
    // The platform's user id, as the platform knows the learner; plain, as it is no contact detail.
    { type: 'IdentityObject', hashed: false, identityHash: input.learner.userId, identityType: 'ltiUserId' },
  ];
  return {
    '@context': [CREDENTIALS_V2, OPEN_BADGES_V3, input.extensionContextUrl],
    id: input.id,
    type: ['VerifiableCredential', 'OpenBadgeCredential'],
    name: d.name,
    issuer: issuerProfile(input.issuer),
    validFrom: input.validFrom,
    ...(input.validUntil ? { validUntil: input.validUntil } : {}),
    credentialSubject: {
      type: ['AchievementSubject'],
      identifier,
      achievement: buildAchievement(d, input.achievementId, input.issuer.id),
      ...(d.ectsCredits !== undefined ? { creditsEarned: d.ectsCredits } : {}),
      ...(input.activity.startDate ? { activityStartDate: input.activity.startDate } : {}),
      ...(input.activity.endDate ? { activityEndDate: input.activity.endDate } : {}),
    },
    evidence: [{ type: ['Evidence'], name: input.course.title, ...(input.course.url ? { id: input.course.url } : {}) }],
    ...(input.credentialStatus ? { credentialStatus: input.credentialStatus } : {}),
    credentialSchema: [{ id: ACHIEVEMENT_CREDENTIAL_SCHEMA, type: '1EdTechJsonSchemaValidator2019' }],
  };
}

const EXTENSION_TERMS = [
  'learningOutcome', 'workloadHours', 'nqfLevel', 'assessmentType', 'participationMode', 'qualityAssurance',
  'prerequisites', 'supervision', 'identityVerified', 'stackability', 'creditSystem',
] as const;

/**
 * The tool's JSON-LD extension context for the EU micro-credential elements that OB 3.0 has no
 * term for, and for 1EdTech's schema validator type. It is served at its URL (verifiers elsewhere
 * fetch it) and bundled in the tool's own loader. Its content never changes for a URL: a new term
 * needs a new version.
 */
export function extensionContext(publicUrl: string): { url: string; document: Record<string, unknown> } {
  const vocab = `${publicUrl}/ns/microcredential/v1#`;
  const terms = Object.fromEntries(EXTENSION_TERMS.map((term) => [term, { '@id': `${vocab}${term}` }]));
  return {
    url: `${publicUrl}/ns/microcredential/v1`,
    document: {
      '@context': {
        '@protected': true,
        ...terms,
        workloadHours: { '@id': `${vocab}workloadHours`, '@type': 'http://www.w3.org/2001/XMLSchema#decimal' },
        identityVerified: { '@id': `${vocab}identityVerified`, '@type': 'http://www.w3.org/2001/XMLSchema#boolean' },
        '1EdTechJsonSchemaValidator2019': 'https://purl.imsglobal.org/spec/vccs/v1p0/context.json#1EdTechJsonSchemaValidator2019',
      },
    },
  };
}
