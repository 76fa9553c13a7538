/**
 * A course's gradebook as the tool sees it after reading AGS and NRPS: platform differences are
 * already smoothed out here, so criteria evaluation never sees a Moodle or Canvas shape.
 */

export interface GradebookLineItem {
  /** The AGS line item URL: its identity on the platform. */
  id: string;
  label: string;
  scoreMaximum: number;
  resourceLinkId?: string;
  resourceId?: string;
  tag?: string;
  startDateTime?: string;
  endDateTime?: string;
}

export type ActivityProgress = 'Initialized' | 'Started' | 'InProgress' | 'Submitted' | 'Completed';
export type GradingProgress = 'FullyGraded' | 'Pending' | 'PendingManual' | 'Failed' | 'NotReady';

/** One learner's result on one line item. No entry at all means "not attempted". */
export interface GradebookResult {
  lineItemId: string;
  /** The score on the scale of `maximum`; null when the platform holds a result without a score. */
  score: number | null;
  /** resultMaximum when the platform gives one, else the line item's scoreMaximum. May be 0. */
  maximum: number;
  /** When the score was given (ISO 8601), if the platform says. */
  timestamp?: string;
  /** Reported by some platforms; when absent, a scored result counts as Completed and FullyGraded. */
  activityProgress?: ActivityProgress;
  gradingProgress?: GradingProgress;
}

export interface RosterMember {
  userId: string;
  name?: string;
  givenName?: string;
  familyName?: string;
  email?: string;
  /** Full LIS role URIs (or the short names some platforms send). */
  roles: string[];
  status: 'Active' | 'Inactive' | 'Deleted';
}

/** Everything evaluation needs about one learner, fetched at `fetchedAt`. */
export interface LearnerSnapshot {
  userId: string;
  fetchedAt: string;
  lineItems: GradebookLineItem[];
  /** Keyed by line item id. */
  results: Record<string, GradebookResult>;
  /** Ids of credential definitions this learner already holds from the same issuer. */
  heldCredentials: string[];
  /** Ids of credential definitions for which staff approved this learner. */
  staffApprovals: string[];
}
