/**
 * The criteria module's pure API. Rendering reasons as text needs the locale files, so
 * describeReason and explain live in ./describe.js and are imported from there.
 */
export {
  criteriaSchema,
  parseCriteria,
  jsonPointer,
  zodErrors,
  selectorKind,
  MAX_CHILDREN,
  MAX_DEPTH,
  MAX_LABEL_PATTERN,
  MAX_NODES,
  type AllOfNode,
  type AnyOfNode,
  type AtLeastNode,
  type CompletionNode,
  type Criteria,
  type CriteriaError,
  type CriteriaNode,
  type NodeLabel,
  type ParsedCriteria,
  type PrerequisiteNode,
  type ScoreNode,
  type Selector,
  type SelectorKind,
  type StaffApprovalNode,
  type TimeWindow,
  type TotalPointsNode,
  type WeightedAverageNode,
  type WeightedItem,
} from './schema.js';
export { validateAgainstGradebook, prerequisitesOf, type KnownCredentials } from './validate.js';
export { compileCriteria, evaluate, type CompiledCriteria, type Evaluation, type NodeProgress } from './evaluate.js';
export { REASON_KEYS, type Reason, type ReasonKey } from './reason.js';
