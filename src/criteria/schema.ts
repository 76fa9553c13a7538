import { z } from 'zod';
import { parseLabelPattern } from './label-pattern.js';

/**
 * The criteria tree of a credential definition: which gradebook results, held credentials and
 * staff approvals a learner needs. Stored as JSON with the definition; see docs/criteria.md.
 */

export const MAX_DEPTH = 12;
export const MAX_NODES = 500;
export const MAX_CHILDREN = 50;
export const MAX_LABEL_PATTERN = 200;

/** Which line items (gradebook columns) a leaf reads. Exactly one field is set. */
export interface Selector {
  lineItemId?: string;
  resourceLinkId?: string;
  resourceId?: string;
  tag?: string;
  /** Case-insensitive substring of the label, or "/regex/flags". */
  labelPattern?: string;
}

export const SELECTOR_KINDS = ['lineItemId', 'resourceLinkId', 'resourceId', 'tag', 'labelPattern'] as const;
export type SelectorKind = (typeof SELECTOR_KINDS)[number];

/** Bounds on a result's timestamp, inclusive. */
export interface TimeWindow {
  from?: string;
  to?: string;
}

export interface NodeLabel {
  en?: string;
  ja?: string;
}

interface NodeBase {
  /** Unique within the tree; names the node in progress output instead of its path. */
  id?: string;
  label?: NodeLabel;
}

export interface ScoreNode extends NodeBase {
  type: 'score';
  select: Selector;
  /** Exactly one of minPercent and minPoints is set. */
  minPercent?: number;
  minPoints?: number;
  requireCompleted?: true;
  requireFullyGraded?: true;
  window?: TimeWindow;
}

export interface CompletionNode extends NodeBase {
  type: 'completion';
  select: Selector;
  require: 'completed' | 'fullyGraded';
  window?: TimeWindow;
}

export interface AllOfNode extends NodeBase {
  type: 'allOf';
  children: CriteriaNode[];
}

export interface AnyOfNode extends NodeBase {
  type: 'anyOf';
  children: CriteriaNode[];
}

export interface AtLeastNode extends NodeBase {
  type: 'atLeast';
  n: number;
  children: CriteriaNode[];
}

export interface WeightedItem {
  select: Selector;
  weight: number;
}

export interface WeightedAverageNode extends NodeBase {
  type: 'weightedAverage';
  items: WeightedItem[];
  minPercent: number;
}

export interface TotalPointsNode extends NodeBase {
  type: 'totalPoints';
  select: Selector;
  minPoints: number;
}

export interface PrerequisiteNode extends NodeBase {
  type: 'prerequisite';
  credentialId: string;
}

export interface StaffApprovalNode extends NodeBase {
  type: 'staffApproval';
}

export type CriteriaNode =
  | ScoreNode
  | CompletionNode
  | AllOfNode
  | AnyOfNode
  | AtLeastNode
  | WeightedAverageNode
  | TotalPointsNode
  | PrerequisiteNode
  | StaffApprovalNode;

export type Criteria = CriteriaNode;

export interface CriteriaError {
  /** JSON pointer into the criteria tree, e.g. "/children/2/minPercent"; "/" for the root. */
  path: string;
  message: string;
}

export function jsonPointer(path: ReadonlyArray<PropertyKey>): string {
  return path.length ? '/' + path.map((p) => String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('/') : '/';
}

/** The one field a schema-valid selector sets. */
export function selectorKind(selector: Selector): SelectorKind {
  return SELECTOR_KINDS.find((kind) => selector[kind] !== undefined) ?? 'lineItemId';
}

/** The generated id of a root node without its own id; other nodes may not take it. */
export const ROOT_ID = 'root';

const nodeId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1 to 64 letters, digits, "_" or "-"');
const labelText = z.string().trim().min(1).max(200);
const percent = z.number().min(0, 'must be between 0 and 100').max(100, 'must be between 0 and 100');
const points = z.number().min(0, 'must not be negative');
const timestamp = z.iso.datetime({ offset: true, message: 'must be an ISO 8601 date-time such as 2026-10-31T23:59:59+09:00' });

const selectorSchema = z.strictObject({
  lineItemId: z.string().min(1).max(2048).optional(),
  resourceLinkId: z.string().min(1).max(2048).optional(),
  resourceId: z.string().min(1).max(2048).optional(),
  tag: z.string().min(1).max(200).optional(),
  labelPattern: z.string().min(1).max(MAX_LABEL_PATTERN, `must be at most ${MAX_LABEL_PATTERN} characters`).optional(),
}).superRefine((selector, ctx) => {
  const set = SELECTOR_KINDS.filter((kind) => selector[kind] !== undefined);
  if (set.length !== 1) {
    ctx.addIssue({ code: 'custom', message: `needs exactly one of ${SELECTOR_KINDS.join(', ')}${set.length ? ` (found ${set.join(', ')})` : ''}` });
  }
  if (selector.labelPattern !== undefined) {
    const parsed = parseLabelPattern(selector.labelPattern);
    if (!parsed.ok) ctx.addIssue({ code: 'custom', path: ['labelPattern'], message: parsed.message });
  }
});

const windowSchema = z.strictObject({ from: timestamp.optional(), to: timestamp.optional() }).superRefine((window, ctx) => {
  if (window.from !== undefined && window.to !== undefined && Date.parse(window.from) > Date.parse(window.to)) {
    ctx.addIssue({ code: 'custom', path: ['to'], message: 'must not be before from' });
  }
});

const base = {
  id: nodeId.optional(),
  label: z.strictObject({ en: labelText.optional(), ja: labelText.optional() }).optional(),
};

const children = z.array(z.lazy(() => nodeSchema)).min(1, 'needs at least one child').max(MAX_CHILDREN, `must have at most ${MAX_CHILDREN} children`);

const scoreSchema = z.strictObject({
  ...base,
  type: z.literal('score'),
  select: selectorSchema,
  minPercent: percent.optional(),
  minPoints: points.optional(),
  requireCompleted: z.literal(true).optional(),
  requireFullyGraded: z.literal(true).optional(),
  window: windowSchema.optional(),
}).superRefine((node, ctx) => {
  if (node.minPercent !== undefined && node.minPoints !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['minPoints'], message: 'give either minPercent or minPoints, not both' });
  } else if (node.minPercent === undefined && node.minPoints === undefined) {
    ctx.addIssue({ code: 'custom', message: 'needs minPercent or minPoints' });
  }
});

const completionSchema = z.strictObject({
  ...base,
  type: z.literal('completion'),
  select: selectorSchema,
  require: z.enum(['completed', 'fullyGraded']),
  window: windowSchema.optional(),
});

const allOfSchema = z.strictObject({ ...base, type: z.literal('allOf'), children });
const anyOfSchema = z.strictObject({ ...base, type: z.literal('anyOf'), children });

const atLeastSchema = z.strictObject({
  ...base,
  type: z.literal('atLeast'),
  n: z.number().int().min(1, 'must be at least 1'),
  children,
}).superRefine((node, ctx) => {
  if (node.n > node.children.length) {
    ctx.addIssue({ code: 'custom', path: ['n'], message: `must not exceed the number of children (${node.children.length})` });
  }
});

const weightedAverageSchema = z.strictObject({
  ...base,
  type: z.literal('weightedAverage'),
  items: z.array(z.strictObject({
    select: selectorSchema,
    weight: z.number().positive('must be greater than 0').max(1_000_000),
  })).min(1, 'needs at least one item').max(MAX_CHILDREN, `must have at most ${MAX_CHILDREN} items`),
  minPercent: percent,
});

const totalPointsSchema = z.strictObject({ ...base, type: z.literal('totalPoints'), select: selectorSchema, minPoints: points });
const prerequisiteSchema = z.strictObject({ ...base, type: z.literal('prerequisite'), credentialId: z.string().min(1).max(200) });
const staffApprovalSchema = z.strictObject({ ...base, type: z.literal('staffApproval') });

const nodeSchema: z.ZodType<CriteriaNode> = z.discriminatedUnion('type', [
  scoreSchema,
  completionSchema,
  allOfSchema,
  anyOfSchema,
  atLeastSchema,
  weightedAverageSchema,
  totalPointsSchema,
  prerequisiteSchema,
  staffApprovalSchema,
], { error: (issue) => (issue.code === 'invalid_union' ? 'must be a criteria node with type score, completion, allOf, anyOf, atLeast, weightedAverage, totalPoints, prerequisite or staffApproval' : undefined) });

/**
 * Measures the raw input's nesting before the recursive schema sees it, so a hostile, deeply nested
 * document is refused without deep recursion.
 */
function checkSize(input: unknown, ctx: z.RefinementCtx): void {
  const stack: Array<{ value: unknown; path: Array<string | number>; depth: number }> = [{ value: input, path: [], depth: 1 }];
  // Nodes are counted when found, so a huge children array is refused before it is walked.
  let nodes = 1;
  while (stack.length) {
    const { value, path, depth } = stack.pop()!;
    if (depth > MAX_DEPTH) {
      ctx.addIssue({ code: 'custom', path, message: `nesting is deeper than ${MAX_DEPTH} levels` });
      return;
    }
    const kids = typeof value === 'object' && value !== null ? (value as { children?: unknown }).children : undefined;
    if (!Array.isArray(kids)) continue;
    nodes += kids.length;
    if (nodes > MAX_NODES) {
      ctx.addIssue({ code: 'custom', path: [], message: `the tree has more than ${MAX_NODES} nodes` });
      return;
    }
    for (let i = kids.length - 1; i >= 0; i--) stack.push({ value: kids[i], path: [...path, 'children', i], depth: depth + 1 });
  }
}

function checkIds(root: CriteriaNode, ctx: z.RefinementCtx): void {
  const seen = new Map<string, string>();
  const visit = (node: CriteriaNode, path: Array<string | number>): void => {
    if (node.id !== undefined) {
      const pointer = jsonPointer(path);
      const earlier = seen.get(node.id);
      if (earlier !== undefined) {
        ctx.addIssue({ code: 'custom', path: [...path, 'id'], message: `duplicate node id "${node.id}" (also at ${earlier})` });
      } else if (node.id === ROOT_ID && path.length > 0) {
        ctx.addIssue({ code: 'custom', path: [...path, 'id'], message: `"${ROOT_ID}" is reserved for the root node` });
      } else {
        seen.set(node.id, pointer);
      }
    }
    if ('children' in node) node.children.forEach((child, i) => visit(child, [...path, 'children', i]));
  };
  visit(root, []);
}

export const criteriaSchema = z.unknown().superRefine(checkSize).pipe(nodeSchema).superRefine(checkIds);

export type ParsedCriteria = { ok: true; criteria: Criteria } | { ok: false; errors: CriteriaError[] };

export function parseCriteria(input: unknown): ParsedCriteria {
  const parsed = criteriaSchema.safeParse(input);
  if (parsed.success) return { ok: true, criteria: parsed.data };
  return { ok: false, errors: zodErrors(parsed.error) };
}

/** Validation errors with JSON pointers; one per unknown field, pointing at the field itself. */
export function zodErrors(error: z.ZodError, prefix: ReadonlyArray<PropertyKey> = []): CriteriaError[] {
  return error.issues.flatMap((issue) => issue.code === 'unrecognized_keys'
    ? issue.keys.map((key) => ({ path: jsonPointer([...prefix, ...issue.path, key]), message: 'unknown field' }))
    : [{ path: jsonPointer([...prefix, ...issue.path]), message: issue.message }]);
}
