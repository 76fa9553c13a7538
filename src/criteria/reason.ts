/**
 * Why a node is or is not satisfied, as data: an i18next key under `criteria.reason` and its
 * parameters. Rendering is src/criteria/describe.ts's job, so evaluation stays free of i18n.
 *
 * Parameter conventions that describeReason relies on:
 * - names ending in `At` hold ISO 8601 date-times and are shown in the reader's language;
 * - `score` with `maximum` becomes "7 of 10 points" (`maximum` 0: the column has no maximum);
 * - `selectorKind` with `selectorValue` becomes the selector's description, e.g. tag "quiz".
 */

export const REASON_KEYS = [
  'criteria.reason.noMatch',
  'criteria.reason.notAttempted',
  'criteria.reason.notGraded',
  'criteria.reason.notCompleted',
  'criteria.reason.notFullyGraded',
  'criteria.reason.scoredBeforeWindow',
  'criteria.reason.scoredAfterWindow',
  'criteria.reason.scoreTimeUnknown',
  'criteria.reason.resultRecorded',
  'criteria.reason.noResults',
  'criteria.reason.scorePercentMet',
  'criteria.reason.scorePercentShort',
  'criteria.reason.scorePointsMet',
  'criteria.reason.scorePointsShort',
  'criteria.reason.completed',
  'criteria.reason.fullyGraded',
  'criteria.reason.columnsAllMet',
  'criteria.reason.columnsSomeMet',
  'criteria.reason.allOfMet',
  'criteria.reason.allOfShort',
  'criteria.reason.anyOfMet',
  'criteria.reason.anyOfShort',
  'criteria.reason.atLeastMet',
  'criteria.reason.atLeastShort',
  'criteria.reason.weightedAverageMet',
  'criteria.reason.weightedAverageShort',
  'criteria.reason.weightedItem',
  'criteria.reason.weightedItemNotAttempted',
  'criteria.reason.weightedItemNotGraded',
  'criteria.reason.weightedItemNoMatch',
  'criteria.reason.totalPointsMet',
  'criteria.reason.totalPointsShort',
  'criteria.reason.pointsItem',
  'criteria.reason.prerequisiteHeld',
  'criteria.reason.prerequisiteMissing',
  'criteria.reason.staffApproved',
  'criteria.reason.staffApprovalPending',
] as const;

export type ReasonKey = (typeof REASON_KEYS)[number];

export interface Reason {
  key: string;
  params: Record<string, string | number>;
}

export function reason(key: ReasonKey, params: Record<string, string | number> = {}): Reason {
  return { key, params };
}
