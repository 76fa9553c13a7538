import type { TFunction } from 'i18next';
import { z } from 'zod';
import type { Definition, FieldError } from '../credentials/definition-schema.js';
import type { Criteria } from '../criteria/index.js';

/**
 * The credential editor's form: what an HTML form posts, turned into the submission that
 * DefinitionService validates, and that service's errors turned back into per-field messages in
 * the user's language. The form only reshapes; all validation of meaning stays in the service.
 */

export const ALIGNMENT_FIELDS = ['targetName', 'targetUrl', 'targetDescription', 'targetFramework', 'targetCode', 'targetType'] as const;

/** Empty alignment rows offered beyond those filled in, since the form works without JS. */
const SPARE_ALIGNMENT_ROWS = 2;
const MAX_ALIGNMENT_ROWS = 60;

const TEXT_FIELDS = [
  'name', 'description', 'criteriaNarrative', 'imageUrl', 'imageCaption', 'tags', 'language', 'version', 'learningOutcomes',
  'workloadHours', 'ectsCredits', 'creditHours', 'eqfLevel', 'nqfLevel', 'participation', 'qualityAssurance', 'awardingBodyName',
  'awardingBodyUrl', 'awardingCountry', 'prerequisitesText', 'supervision', 'identityVerified', 'stackability', 'validForMonths', 'criteria',
] as const;
type TextField = (typeof TEXT_FIELDS)[number];

export type AlignmentRow = Record<(typeof ALIGNMENT_FIELDS)[number], string>;

/** The form as the user sees it: every value a string, as typed, so a re-rendered form keeps the input. */
export interface FormValues extends Record<TextField, string> {
  assessmentTypes: string[];
  autoIssue: boolean;
  writeBackToGradebook: boolean;
  alignments: AlignmentRow[];
}

const formField = z.union([z.string(), z.array(z.string())]).optional();
/** A posted form: strings, or repeated strings; the ltik field is ltijs' and ignored here. */
export const postedForm = z.record(z.string().max(100), formField);

const single = (value: string | string[] | undefined): string => (Array.isArray(value) ? value[0] ?? '' : value ?? '');
const many = (value: string | string[] | undefined): string[] => (Array.isArray(value) ? value : value === undefined ? [] : [value]);

export function formValuesFromPost(body: z.infer<typeof postedForm>): FormValues {
  const text = Object.fromEntries(TEXT_FIELDS.map((f) => [f, single(body[f])])) as Record<TextField, string>;
  const rows = new Map<number, AlignmentRow>();
  for (const key of Object.keys(body)) {
    const match = /^alignment-(\d{1,2})-(\w+)$/.exec(key);
    const field = ALIGNMENT_FIELDS.find((f) => f === match?.[2]);
    if (!match || !field || Number(match[1]) >= MAX_ALIGNMENT_ROWS) continue;
    const row = rows.get(Number(match[1])) ?? emptyAlignment();
    row[field] = single(body[key]);
    rows.set(Number(match[1]), row);
  }
  return {
    ...text,
    assessmentTypes: many(body.assessmentTypes),
    autoIssue: single(body.autoIssue) === 'true',
    writeBackToGradebook: single(body.writeBackToGradebook) === 'true',
    alignments: [...rows.entries()].sort(([a], [b]) => a - b).map(([, row]) => row),
  };
}

const emptyAlignment = (): AlignmentRow => Object.fromEntries(ALIGNMENT_FIELDS.map((f) => [f, ''])) as AlignmentRow;

const numberText = (n: number | undefined) => (n === undefined ? '' : String(n));

export function formValuesFromDefinition(definition: Definition, criteria: Criteria): FormValues {
  return {
    name: definition.name,
    description: definition.description,
    criteriaNarrative: definition.criteriaNarrative,
    imageUrl: definition.image?.url ?? '',
    imageCaption: definition.image?.caption ?? '',
    tags: definition.tags.join(', '),
    language: definition.language,
    version: definition.version,
    learningOutcomes: definition.learningOutcomes.join('\n'),
    workloadHours: numberText(definition.workloadHours),
    ectsCredits: numberText(definition.ectsCredits),
    creditHours: numberText(definition.creditHours),
    eqfLevel: numberText(definition.eqfLevel),
    nqfLevel: definition.nqfLevel ?? '',
    assessmentTypes: [...definition.assessmentTypes],
    participation: definition.participation,
    qualityAssurance: definition.qualityAssurance,
    awardingBodyName: definition.awardingBody.name,
    awardingBodyUrl: definition.awardingBody.url ?? '',
    awardingCountry: definition.awardingCountry,
    prerequisitesText: definition.prerequisitesText ?? '',
    supervision: definition.supervision ?? '',
    identityVerified: definition.identityVerified === undefined ? '' : String(definition.identityVerified),
    stackability: definition.stackability ?? '',
    validForMonths: numberText(definition.validForMonths),
    autoIssue: definition.autoIssue,
    writeBackToGradebook: definition.writeBackToGradebook,
    alignments: definition.alignments.map((a) => ({ ...emptyAlignment(), ...Object.fromEntries(Object.entries(a).map(([k, v]) => [k, v ?? ''])) })),
    criteria: JSON.stringify(criteria, null, 2),
  };
}

/** A new credential's form: the page's language, and a first rule on the course's first column. */
export function newFormValues(language: string, firstLineItemId: string | undefined): FormValues {
  const firstRule: Criteria = firstLineItemId === undefined
    ? { type: 'staffApproval' }
    : { type: 'score', select: { lineItemId: firstLineItemId }, minPercent: 60 };
  return {
    ...(Object.fromEntries(TEXT_FIELDS.map((f) => [f, ''])) as Record<TextField, string>),
    language,
    version: '1.0',
    assessmentTypes: [],
    autoIssue: false,
    writeBackToGradebook: false,
    alignments: [],
    criteria: JSON.stringify({ type: 'allOf', children: [firstRule] }, null, 2),
  };
}

/** The rows the form shows: those filled in, then a few empty ones. */
export function alignmentRows(values: FormValues): AlignmentRow[] {
  return [...values.alignments, ...Array.from({ length: SPARE_ALIGNMENT_ROWS }, emptyAlignment)];
}

const optionalText = (s: string) => (s.trim() === '' ? undefined : s);
/** A number when the text is one; otherwise the text itself, so the schema names the field. */
const optionalNumber = (s: string): number | string | undefined => {
  if (s.trim() === '') return undefined;
  const n = Number(s);
  return Number.isFinite(n) ? n : s;
};
const requiredNumber = (s: string) => optionalNumber(s) ?? s;
const lines = (s: string) => s.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
const withoutUndefined = <T extends Record<string, unknown>>(o: T) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

export interface Submission {
  input: { definition: Record<string, unknown>; criteria: unknown };
  /** A criteria textarea that is not JSON at all; the service then sees no criteria. */
  jsonError: string | null;
  /** For each submitted alignment, the form row it came from (empty rows are skipped). */
  alignmentRowOf: number[];
}

export function submissionFromForm(values: FormValues): Submission {
  const filled = values.alignments.map((row, i) => ({ row, i })).filter(({ row }) => ALIGNMENT_FIELDS.some((f) => row[f].trim() !== ''));
  let criteria: unknown = null;
  let jsonError: string | null = null;
  try {
    criteria = JSON.parse(values.criteria);
  } catch (err) {
    jsonError = (err as Error).message;
  }
  const image = optionalText(values.imageUrl) || optionalText(values.imageCaption)
    ? withoutUndefined({ url: values.imageUrl.trim(), caption: optionalText(values.imageCaption) })
    : undefined;
  const identity = values.identityVerified === 'true' ? true : values.identityVerified === 'false' ? false : optionalText(values.identityVerified);
  const definition = withoutUndefined({
    name: values.name,
    description: values.description,
    criteriaNarrative: values.criteriaNarrative,
    image,
    tags: values.tags.split(',').map((t) => t.trim()).filter(Boolean),
    alignments: filled.map(({ row }) => withoutUndefined(Object.fromEntries(ALIGNMENT_FIELDS.map((f) => [f, f === 'targetName' || f === 'targetUrl' ? row[f] : optionalText(row[f])])))),
    language: values.language.trim(),
    version: values.version,
    learningOutcomes: lines(values.learningOutcomes),
    workloadHours: requiredNumber(values.workloadHours),
    ectsCredits: optionalNumber(values.ectsCredits),
    creditHours: optionalNumber(values.creditHours),
    eqfLevel: requiredNumber(values.eqfLevel),
    nqfLevel: optionalText(values.nqfLevel),
    assessmentTypes: values.assessmentTypes,
    participation: values.participation,
    qualityAssurance: values.qualityAssurance,
    awardingBody: withoutUndefined({ name: values.awardingBodyName, url: optionalText(values.awardingBodyUrl) }),
    awardingCountry: values.awardingCountry.trim(),
    prerequisitesText: optionalText(values.prerequisitesText),
    supervision: optionalText(values.supervision),
    identityVerified: identity,
    stackability: optionalText(values.stackability),
    validForMonths: optionalNumber(values.validForMonths),
    autoIssue: values.autoIssue,
    writeBackToGradebook: values.writeBackToGradebook,
  });
  return { input: { definition, criteria }, jsonError, alignmentRowOf: filled.map(({ i }) => i) };
}

export interface ShownError {
  /** The form control's name, or "criteria" for anything in the tree; null when no field fits. */
  field: string | null;
  /** The JSON pointer inside the criteria tree, for the builder to place the message. */
  criteriaPath: string | null;
  message: string;
}

const DEFINITION_FIELD: Record<string, string> = {
  image: 'imageUrl', 'image/url': 'imageUrl', 'image/caption': 'imageCaption', awardingBody: 'awardingBodyName',
  'awardingBody/name': 'awardingBodyName', 'awardingBody/url': 'awardingBodyUrl', alignments: 'alignment-0-targetName',
};

function fieldOf(path: string, alignmentRowOf: number[]): string | null {
  const rest = path.replace(/^\/definition\/?/, '');
  const alignment = /^alignments\/(\d+)\/?(\w*)/.exec(rest);
  if (alignment) {
    const field = ALIGNMENT_FIELDS.find((f) => f === alignment[2]) ?? 'targetName';
    return `alignment-${alignmentRowOf[Number(alignment[1])] ?? 0}-${field}`;
  }
  if (DEFINITION_FIELD[rest]) return DEFINITION_FIELD[rest];
  const top = rest.split('/')[0]!;
  return (TEXT_FIELDS as readonly string[]).includes(top) || ['assessmentTypes', 'autoIssue', 'writeBackToGradebook'].includes(top) ? top : null;
}

/** The service's English messages (zod's and the criteria validator's), as i18n keys. */
const MESSAGES: Array<[RegExp, string, (m: RegExpExecArray) => Record<string, string>]> = [
  [/^Too small: expected string to have >=1 characters$|^Invalid input: expected string, received undefined$/, 'required', () => ({})],
  [/^Too big: expected string to have <=(\d+) characters$/, 'tooLong', (m) => ({ max: m[1]! })],
  [/^Too small: expected array to have >=1 items$/, 'atLeastOne', () => ({})],
  [/^Too big: expected array to have <=(\d+) items$|^must have at most (\d+) (children|items)$/, 'tooMany', (m) => ({ max: m[1] ?? m[2]! })],
  [/^Invalid input: expected int, received number$/, 'notWhole', () => ({})],
  [/^Invalid input: expected number, received (string|undefined)$/, 'notNumber', () => ({})],
  [/^Too small: expected number to be >=(\S+)$|^must be at least (\S+)$/, 'min', (m) => ({ limit: m[1] ?? m[2]! })],
  [/^Too small: expected number to be >(\S+)$/, 'above', (m) => ({ limit: m[1]! })],
  [/^Too big: expected number to be <=(\S+)$/, 'max', (m) => ({ limit: m[1]! })],
  [/^Invalid number: must be a multiple of (\S+)$/, 'multipleOf', (m) => ({ step: m[1]! })],
  [/^Invalid option/, 'invalidChoice', () => ({})],
  [/^must be an http\(s\) URL$|^Invalid URL$/, 'url', () => ({})],
  [/^must be a BCP 47 language tag/, 'language', () => ({})],
  [/^must be an ISO 3166-1 alpha-2 code/, 'country', () => ({})],
  [/^must be an OB 3.0 alignment target type/, 'alignmentType', () => ({})],
  [/^unknown field$/, 'unknownField', () => ({})],
  [/^references a missing line item/, 'missingLineItem', () => ({})],
  [/^unknown prerequisite credential "(.*)"$/, 'unknownPrerequisite', (m) => ({ id: m[1]! })],
  [/^prerequisite cycle: (.*)$/, 'prerequisiteCycle', (m) => ({ chain: m[1]! })],
  [/^must be between 0 and 100$/, 'percentRange', () => ({})],
  [/^must not be negative$/, 'notNegative', () => ({})],
  [/^needs minPercent or minPoints$/, 'needsThreshold', () => ({})],
  [/^give either minPercent or minPoints, not both$/, 'bothThresholds', () => ({})],
  [/^needs at least one (child|item)$/, 'needsChild', () => ({})],
  [/^must not exceed the number of children \((\d+)\)$/, 'nTooLarge', (m) => ({ count: m[1]! })],
  [/^needs exactly one of /, 'selectorOne', () => ({})],
  [/^must be a criteria node with type/, 'nodeType', () => ({})],
  [/^must be an ISO 8601 date-time/, 'dateTime', () => ({})],
  [/^must not be before from$/, 'windowOrder', () => ({})],
  [/^duplicate node id/, 'duplicateId', () => ({})],
  [/is reserved for the root node$/, 'reservedId', () => ({})],
  [/^must be 1 to 64 letters, digits/, 'nodeIdFormat', () => ({})],
  [/^nesting is deeper than/, 'tooDeep', () => ({})],
  [/^the tree has more than/, 'tooManyNodes', () => ({})],
  [/^must be greater than 0$/, 'weightPositive', () => ({})],
];

export function localizeMessage(message: string, t: TFunction): string {
  for (const [pattern, key, params] of MESSAGES) {
    const match = pattern.exec(message);
    if (match) return t(`editor.errors.${key}`, params(match));
  }
  return t('editor.errors.invalid', { detail: message });
}

/** The service's errors (JSON pointers) placed on the form's fields, in the user's language. */
export function shownErrors(errors: FieldError[], submission: Submission, t: TFunction): ShownError[] {
  const treeErrors = submission.jsonError !== null
    ? [{ field: 'criteria', criteriaPath: null, message: t('editor.errors.jsonSyntax', { detail: submission.jsonError }) }]
    : [];
  return [
    ...treeErrors,
    ...errors.flatMap((e): ShownError[] => {
      if (e.path === '/criteria' || e.path.startsWith('/criteria/')) {
        if (submission.jsonError !== null) return [];
        const criteriaPath = e.path.slice('/criteria'.length) || '/';
        return [{ field: 'criteria', criteriaPath, message: t('editor.errors.inCriteria', { path: criteriaPath, message: localizeMessage(e.message, t) }) }];
      }
      return [{ field: fieldOf(e.path, submission.alignmentRowOf), criteriaPath: null, message: localizeMessage(e.message, t) }];
    }),
  ];
}
