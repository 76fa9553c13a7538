import { setMaxListeners } from 'node:events';
import { mapRoles } from '../lti/roles.js';
import { listLineItems, listResults } from './ags.js';
import { listMembers } from './nrps.js';
import type { ReadSettings } from './paging.js';
import { emptyStats, type CallContext, type RequestStats } from './service-http.js';
import type { GradebookLineItem, GradebookResult, LearnerSnapshot, RosterMember } from './types.js';

/**
 * Runs the parts of one read together and succeeds only if all do. On the first failure the others
 * are cancelled (no new requests start) and, once they have stopped, that failure is thrown.
 */
async function allOrNothing<T>(call: CallContext, parts: Array<(call: CallContext) => Promise<T>>): Promise<T[]> {
  const controller = new AbortController();
  // Each part's waiting and in-flight request listens for the abort: that is bounded, not a leak.
  setMaxListeners(Math.max(10, parts.length * 2 + 2), controller.signal);
  const stopWithParent = () => controller.abort(call.signal!.reason);
  call.signal?.addEventListener('abort', stopWithParent, { once: true });
  let failure: { error: unknown } | undefined;
  const running = parts.map((part) =>
    part({ stats: call.stats, signal: controller.signal }).catch((error: unknown) => {
      if (!failure) {
        failure = { error };
        controller.abort(error);
      }
      throw error;
    }),
  );
  const settled = await Promise.allSettled(running);
  call.signal?.removeEventListener('abort', stopWithParent);
  if (failure) throw failure.error;
  return settled.map((outcome) => (outcome as PromiseFulfilledResult<T>).value);
}

export interface LearnerSnapshotQuery {
  lineItemsUrl: string;
  userId: string;
  /** From the tool's own records, not the LMS. */
  heldCredentials: string[];
  staffApprovals: string[];
}

export interface FetchedLearnerSnapshot {
  snapshot: LearnerSnapshot;
  stats: RequestStats;
}

/** One learner's results on every line item: the line items, then one `user_id`-filtered results request per line item. */
export async function fetchLearnerSnapshot(settings: ReadSettings, query: LearnerSnapshotQuery): Promise<FetchedLearnerSnapshot> {
  const fetchedAt = new Date().toISOString();
  const call: CallContext = { stats: emptyStats() };
  const lineItems = await listLineItems({ ...settings, call }, query.lineItemsUrl);
  const perItem = await allOrNothing(call, lineItems.map((lineItem) => (part: CallContext) => listResults({ ...settings, call: part }, lineItem, { userId: query.userId })));
  const results: Record<string, GradebookResult> = {};
  for (const userResults of perItem) for (const { result } of userResults) results[result.lineItemId] = result;
  return {
    snapshot: { userId: query.userId, fetchedAt, lineItems, results, heldCredentials: query.heldCredentials, staffApprovals: query.staffApprovals },
    stats: call.stats,
  };
}

export interface CourseGradebookQuery {
  lineItemsUrl: string;
  membershipsUrl: string;
  /** See ResultsQuery.sendLimit. */
  sendResultsLimit?: boolean;
}

export interface CourseGradebook {
  /** When the read started: every result is at least this recent. */
  fetchedAt: string;
  lineItems: GradebookLineItem[];
  members: RosterMember[];
  /** Per user id, their results keyed by line item id. Users without any result have no entry. */
  resultsByUser: Map<string, Record<string, GradebookResult>>;
  stats: RequestStats;
}

/**
 * The whole course: line items, roster and every line item's results, all pages of each. Any part
 * failing fails the whole read, so awards are never decided on part of a gradebook.
 */
export async function fetchCourseGradebook(settings: ReadSettings, query: CourseGradebookQuery): Promise<CourseGradebook> {
  const fetchedAt = new Date().toISOString();
  const call: CallContext = { stats: emptyStats() };
  let lineItems: GradebookLineItem[] = [];
  let members: RosterMember[] = [];
  const resultsByUser = new Map<string, Record<string, GradebookResult>>();
  await allOrNothing<void>(call, [
    async (part) => {
      lineItems = await listLineItems({ ...settings, call: part }, query.lineItemsUrl);
      const perItem = await allOrNothing(part, lineItems.map((lineItem) => (resultsPart: CallContext) =>
        listResults({ ...settings, call: resultsPart }, lineItem, { sendLimit: query.sendResultsLimit ?? true })));
      for (const userResults of perItem) {
        for (const { userId, result } of userResults) {
          const results = resultsByUser.get(userId) ?? {};
          results[result.lineItemId] = result;
          resultsByUser.set(userId, results);
        }
      }
    },
    async (part) => {
      members = await listMembers({ ...settings, call: part }, query.membershipsUrl);
    },
  ]);
  return { fetchedAt, lineItems, members, resultsByUser, stats: call.stats };
}

export interface LearnerRecords {
  /** Per user id; a learner missing from a map has none. */
  heldCredentials: ReadonlyMap<string, string[]>;
  staffApprovals: ReadonlyMap<string, string[]>;
}

/** A snapshot for each active learner on the roster (short or URI Learner role). */
export function learnerSnapshots(gradebook: CourseGradebook, records: LearnerRecords): LearnerSnapshot[] {
  return gradebook.members
    .filter((member) => member.status === 'Active' && mapRoles(member.roles).learner)
    .map((member) => ({
      userId: member.userId,
      fetchedAt: gradebook.fetchedAt,
      lineItems: gradebook.lineItems,
      results: gradebook.resultsByUser.get(member.userId) ?? {},
      heldCredentials: records.heldCredentials.get(member.userId) ?? [],
      staffApprovals: records.staffApprovals.get(member.userId) ?? [],
    }));
}
