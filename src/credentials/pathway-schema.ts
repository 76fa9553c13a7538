import { z } from 'zod';
import { CREDIT_SYSTEMS } from '../criteria/credits.js';

/**
 * What an administrator says a pathway is: a larger credential that stacks the issuer's course
 * credentials, and accepted credentials of other issuers, by the credentials held and/or credits.
 */

const text = (max: number) => z.string().trim().min(1).max(max);
export const didSchema = z.string().trim().max(2048).regex(/^did:[a-z0-9]+:[A-Za-z0-9._:%-]+$/, 'must be a DID such as did:web:university.example or did:key:z6Mk…');

/** The OB 3.0 AchievementTypes a stacked credential can be. */
export const PATHWAY_ACHIEVEMENT_TYPES = ['Certificate', 'LearningProgram', 'MicroCredential', 'Diploma', 'Award', 'Badge'] as const;

export const credentialRefSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('local'), credentialId: z.string().uuid('must be the id of a credential of this tool') }).strict(),
  z.object({ kind: z.literal('external'), issuer: didSchema, achievementId: z.string().trim().url('must be the achievement id (a URL or URN) as the other issuer writes it').max(2048) }).strict(),
]);

export const pathwayDefinitionSchema = z.object({
  name: text(200),
  description: text(5000),
  criteriaNarrative: text(10000),
  achievementType: z.enum(PATHWAY_ACHIEVEMENT_TYPES).default('Certificate'),
  language: z.string().regex(/^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, 'must be a BCP 47 language tag such as ja or en'),
  version: text(40),
  credentials: z.array(credentialRefSchema).max(100).default([]),
  rule: z.enum(['allOf', 'anyOf', 'atLeast']).default('allOf'),
  /** For atLeast: how many of the listed credentials. */
  count: z.number().int().min(1).max(100).optional(),
  minCredits: z.object({ amount: z.number().positive().max(1000).multipleOf(0.5), system: z.enum(CREDIT_SYSTEMS) }).strict().optional(),
  /** Other issuers (accepted_issuer DIDs) whose credentials count toward this pathway. */
  acceptedIssuers: z.array(didSchema).max(50).default([]),
  validForMonths: z.number().int().min(1).max(600).optional(),
}).strict().superRefine((d, ctx) => {
  if (d.credentials.length === 0 && !d.minCredits) ctx.addIssue({ code: 'custom', path: ['credentials'], message: 'list the credentials it stacks, or set a minimum of credits, or both' });
  if (d.rule === 'atLeast' && d.count === undefined) ctx.addIssue({ code: 'custom', path: ['count'], message: 'say how many of the listed credentials are needed' });
  if (d.count !== undefined && d.count > d.credentials.length) ctx.addIssue({ code: 'custom', path: ['count'], message: `cannot need more than the ${d.credentials.length} credentials listed` });
  const keys = d.credentials.map((c) => JSON.stringify(c));
  if (new Set(keys).size !== keys.length) ctx.addIssue({ code: 'custom', path: ['credentials'], message: 'a credential is listed twice' });
  d.credentials.forEach((c, i) => {
    if (c.kind === 'external' && !d.acceptedIssuers.includes(c.issuer)) ctx.addIssue({ code: 'custom', path: ['credentials', i, 'issuer'], message: 'add this issuer to the accepted issuers first' });
  });
});

export type PathwayDefinitionInput = z.input<typeof pathwayDefinitionSchema>;
export type PathwayDefinition = z.output<typeof pathwayDefinitionSchema>;

export const acceptedIssuerSchema = z.object({
  did: didSchema,
  name: text(300),
  creditSystem: z.enum(CREDIT_SYSTEMS),
  /** The issuer's Ed25519 Multikey public keys, by the verification method id its proofs name; none for did:key. */
  keys: z.array(z.object({
    id: z.string().trim().max(2100),
    publicKeyMultibase: z.string().trim().regex(/^z6Mk[1-9A-HJ-NP-Za-km-z]{44}$/, 'must be an Ed25519 Multikey public key (z6Mk…, 48 characters)'),
  }).strict()).max(10).default([]),
}).strict().superRefine((d, ctx) => {
  if (!d.did.startsWith('did:key:') && d.keys.length === 0) {
    ctx.addIssue({ code: 'custom', path: ['keys'], message: 'paste the issuer\'s public key and its id: only did:key carries its key in the DID, and nothing is fetched' });
  }
  d.keys.forEach((k, i) => {
    if (!k.id.startsWith(`${d.did}#`)) ctx.addIssue({ code: 'custom', path: ['keys', i, 'id'], message: `must be a key id of this DID, e.g. ${d.did}#key-1` });
  });
});
export type AcceptedIssuerInput = z.input<typeof acceptedIssuerSchema>;
