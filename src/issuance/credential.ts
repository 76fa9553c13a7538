import { createHash } from 'node:crypto';
import { definitionCredits, type Definition } from '../credentials/definition-schema.js';
import { CREDIT_SYSTEM_LABEL } from '../criteria/credits.js';
import type { PathwayDefinition } from '../credentials/pathway-schema.js';
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
  const credits = definitionCredits(d);
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
    ...(credits ? { creditsAvailable: credits.amount, creditSystem: CREDIT_SYSTEM_LABEL[credits.system] } : {}),
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
  const credits = definitionCredits(d);
  const identifier = learnerIdentifiers({ email: input.learner.email, userIds: [input.learner.userId] }, input.salt);
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
      ...(credits ? { creditsEarned: credits.amount } : {}),
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

export interface PathwayCredentialInput {
  id: string;
  achievementId: string;
  pathway: PathwayDefinition;
  issuer: IssuerProfile;
  /** IdentityObjects naming the learner (learnerIdentifiers()). */
  identifier: Array<Record<string, unknown>>;
  /** The held credentials the award stands on, each as its id and name. */
  constituents: Array<{ id: string; name: string }>;
  validFrom: string;
  validUntil?: string;
  /** For its credentialSchema type, as in course credentials. */
  extensionContextUrl: string;
  credentialStatus?: Record<string, unknown>;
}

/** The Achievement of a pathway's revision. Its credits are its constituents': it carries none itself, so nothing counts twice. */
export function buildPathwayAchievement(p: PathwayDefinition, achievementId: string, issuer: IssuerProfile): Record<string, unknown> {
  return {
    id: achievementId,
    type: ['Achievement'],
    achievementType: p.achievementType,
    name: p.name,
    description: p.description,
    criteria: { narrative: p.criteriaNarrative },
    creator: issuerProfile(issuer),
    inLanguage: p.language,
    version: p.version,
  };
}

/**
 * The learner as credentials name them: the email's salted hash when known, and each LMS account's
 * user id, plain, as the platform knows the learner (it is no contact detail).
 */
export function learnerIdentifiers(learner: { email?: string | undefined; userIds: readonly string[] }, salt: string): Array<Record<string, unknown>> {
  return [
    ...(learner.email ? [{ type: 'IdentityObject', hashed: true, identityHash: identityHash(learner.email.trim().toLowerCase(), salt), identityType: 'emailAddress', salt }] : []),
    ...learner.userIds.map((userId) => ({ type: 'IdentityObject', hashed: false, identityHash: userId, identityType: 'ltiUserId' })),
  ];
}

/** The OpenBadgeCredential of a pathway award; its evidence is the credentials it stacks. */
export function buildPathwayCredential(input: PathwayCredentialInput): Record<string, unknown> {
  return {
    '@context': [CREDENTIALS_V2, OPEN_BADGES_V3, input.extensionContextUrl],
    id: input.id,
    type: ['VerifiableCredential', 'OpenBadgeCredential'],
    name: input.pathway.name,
    issuer: issuerProfile(input.issuer),
    validFrom: input.validFrom,
    ...(input.validUntil ? { validUntil: input.validUntil } : {}),
    credentialSubject: {
      type: ['AchievementSubject'],
      identifier: input.identifier,
      achievement: buildPathwayAchievement(input.pathway, input.achievementId, input.issuer),
    },
    evidence: input.constituents.map((c) => ({ id: c.id, type: ['Evidence'], name: c.name })),
    ...(input.credentialStatus ? { credentialStatus: input.credentialStatus } : {}),
    credentialSchema: [{ id: ACHIEVEMENT_CREDENTIAL_SCHEMA, type: '1EdTechJsonSchemaValidator2019' }],
  };
}
