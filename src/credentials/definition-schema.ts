import { z } from 'zod';
import type { CriteriaError } from '../criteria/index.js';
import type { Credits } from '../criteria/credits.js';

/**
 * What an instructor says a micro-credential is: everything an Open Badges 3.0 Achievement needs,
 * plus the mandatory elements of the EU Council Recommendation on micro-credentials (2022/C 243/02).
 * The criteria tree is validated separately (src/criteria), against the course's gradebook.
 */

const text = (max: number) => z.string().trim().min(1).max(max);
const httpsUrl = z.string().url().max(2048).refine((u) => /^https?:\/\//.test(u), 'must be an http(s) URL');

export const ASSESSMENT_TYPES = ['exam', 'test', 'assignment', 'project', 'portfolio', 'practical', 'oral', 'peer', 'self', 'other'] as const;
export const PARTICIPATION_FORMS = ['online', 'blended', 'onsite'] as const;
export const SUPERVISION_TYPES = ['none', 'supervised_online', 'supervised_onsite'] as const;

/** An alignment to a skill or competence framework, e.g. an ESCO skill. Maps to OB 3.0 Alignment. */
const alignmentSchema = z.object({
  targetName: text(300),
  targetUrl: httpsUrl,
  targetDescription: text(1000).optional(),
  targetFramework: text(200).optional(),
  targetCode: text(200).optional(),
  /** OB 3.0 AlignmentTargetType, e.g. "ext:ESCOSkill", "CFItem", "Competency". */
  targetType: z.string().regex(/^(ceasn:Competency|ceterms:Credential|CFItem|CFRubric|CFRubricCriterion|CFRubricCriterionLevel|CTDL|ext:[A-Za-z0-9._-]+)$/, 'must be an OB 3.0 alignment target type such as CFItem or ext:ESCOSkill').optional(),
}).strict();

export const definitionSchema = z.object({
  name: text(200),
  description: text(5000),
  /** The human-readable criteria, shown in the badge (OB 3.0 Criteria.narrative, Markdown allowed). */
  criteriaNarrative: text(10000),
  image: z.object({ url: httpsUrl, caption: text(300).optional() }).strict().optional(),
  tags: z.array(text(60)).max(30).default([]),
  alignments: z.array(alignmentSchema).max(50).default([]),
  /** BCP 47 language of the texts above, e.g. "ja" or "en". */
  language: z.string().regex(/^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, 'must be a BCP 47 language tag such as ja or en'),
  /** The definition's own version label shown in the badge; distinct from the stored revision number. */
  version: text(40),

  // EU mandatory elements.
  learningOutcomes: z.array(text(1000)).min(1).max(40),
  workloadHours: z.number().positive().max(10000),
  ectsCredits: z.number().min(0).max(600).multipleOf(0.5).optional(),
  /** Credits in credit hours (45 hours each, src/criteria/credits.ts); a credential states one system. */
  creditHours: z.number().min(0).max(400).multipleOf(0.5).optional(),
  eqfLevel: z.number().int().min(1).max(8),
  nqfLevel: text(100).optional(),
  assessmentTypes: z.array(z.enum(ASSESSMENT_TYPES)).min(1),
  participation: z.enum(PARTICIPATION_FORMS),
  qualityAssurance: text(1000),
  awardingBody: z.object({ name: text(300), url: httpsUrl.optional() }).strict(),
  /** ISO 3166-1 alpha-2 country of the awarding body. */
  awardingCountry: z.string().regex(/^[A-Z]{2}$/, 'must be an ISO 3166-1 alpha-2 code such as JP'),

  // EU optional elements.
  prerequisitesText: text(2000).optional(),
  supervision: z.enum(SUPERVISION_TYPES).optional(),
  identityVerified: z.boolean().optional(),
  stackability: text(2000).optional(),

  // Issuance behaviour.
  /** How long an issued credential is valid (validUntil); unset: it does not expire. */
  validForMonths: z.number().int().min(1).max(600).optional(),
  autoIssue: z.boolean().default(false),
  writeBackToGradebook: z.boolean().default(false),
}).strict().refine((d) => d.ectsCredits === undefined || d.creditHours === undefined, {
  path: ['creditHours'], message: 'give the credits in one system: ECTS credits or credit hours, not both',
});

export type DefinitionInput = z.input<typeof definitionSchema>;
export type Definition = z.output<typeof definitionSchema>;

/** A field-level validation error: the JSON pointer to the field and what is wrong with it. */
export type FieldError = CriteriaError;

/** The credits a definition awards, in the system it states them in. */
export function definitionCredits(d: Pick<Definition, 'ectsCredits' | 'creditHours'>): Credits | undefined {
  if (d.ectsCredits !== undefined) return { amount: d.ectsCredits, system: 'ects' };
  if (d.creditHours !== undefined) return { amount: d.creditHours, system: 'creditHours' };
  return undefined;
}
