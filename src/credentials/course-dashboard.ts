import { sql, type RawBuilder } from 'kysely';
import type { Db } from '../db/database.js';
import type { DecisionEvidence } from '../db/schema.js';
import type { CourseRef } from './definitions.js';
import type { Definition } from './definition-schema.js';
import { explainDecisions } from './explanations.js';
import type { Evaluation } from '../criteria/index.js';
import { IssuanceRefusal, type IssuanceService } from '../issuance/issuance-service.js';

/**
 * What the instructor's course dashboard reads: per-credential counts, the learners table with
 * each learner's standing, the issuance log, and staff awards and revocations for many learners.
 * Sorting, filtering and paging happen in SQL, so a 10,000-learner course costs one page of rows.
 */

/** A learner's standing towards one credential, most advanced first. */
export const LEARNER_STATUSES = ['claimed', 'awarded', 'revoked', 'qualified', 'in_progress'] as const;
export type LearnerStatus = (typeof LEARNER_STATUSES)[number];

export const LEARNER_SORTS = ['name', 'status', 'progress'] as const;
export type LearnerSort = (typeof LEARNER_SORTS)[number];

export interface LearnerQuery {
  sort: LearnerSort;
  dir: 'asc' | 'desc';
  status?: LearnerStatus | undefined;
  /** Part of a learner's name or user id. */
  q?: string | undefined;
  /** Exactly this learner. */
  userId?: string | undefined;
}

export interface CredentialCounts {
  id: string;
  name: string;
  revision: number;
  /** Learners whose latest decision qualifies them. */
  qualified: number;
  /** Learners holding a live award, claimed or not. */
  awarded: number;
  /** Learners holding a signed credential that is not revoked. */
  claimed: number;
  /** Learners whose awards are all revoked. */
  revoked: number;
}

export interface LearnerRow {
  userId: string;
  name: string;
  email: string | null;
  status: LearnerStatus;
  /** 0..1 from the latest decision; 0 when none was made yet. */
  progress: number;
  qualified: boolean;
  awardedAt: Date | null;
  claimedAt: Date | null;
  revokedAt: Date | null;
  /** The latest decision, from which the explanation is rebuilt; null before the first run. */
  decision: { credential_id: string; revision: number; user_id: string; columns_id: string; results_hash: string; evidence: DecisionEvidence; decided_at: Date } | null;
}

export interface LogEntry {
  at: Date;
  action: 'award.automatic' | 'award.manual' | 'credential.revoked' | 'credential.issued';
  /** Null for awards made by an awarding run. */
  actor: string | null;
  userId: string;
  learnerName: string | null;
  reason: string | null;
}

export type AwardOutcome = 'awarded' | 'already_awarded' | 'unknown_learner';
export type RevocationOutcome = 'revoked' | 'already_revoked' | 'not_awarded' | 'unknown_learner';

/** The most a bulk action takes in one request. */
export const MAX_BULK = 500;

const STATUS_ORDER: RawBuilder<number> = sql`case status when 'claimed' then 0 when 'awarded' then 1 when 'revoked' then 2 when 'qualified' then 3 else 4 end`;

/** A roster entry's name as the LMS gave it (learner_gradebook as g), else the user id. */
const LEARNER_NAME = sql<string>`coalesce(nullif(g.member->>'name', ''), nullif(concat_ws(' ', g.member->>'givenName', g.member->>'familyName'), ''), g.user_id)`;

/** `%` and `_` in a search are literal characters, not patterns. */
const likePattern = (q: string) => `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

interface RawLearnerRow {
  user_id: string;
  name: string;
  email: string | null;
  status: LearnerStatus;
  progress: number | null;
  qualified: boolean | null;
  awarded_at: Date | null;
  claimed_at: Date | null;
  revoked_at: Date | null;
  d_revision: number | null;
  columns_id: string | null;
  results_hash: string | null;
  evidence: DecisionEvidence | null;
  decided_at: Date | null;
  total: number;
}

/** Every credential of the course with its counts, in one aggregate query. */
export async function credentialCounts(db: Db, contextRef: string): Promise<CredentialCounts[]> {
  const { rows } = await sql<{ id: string; current_revision: number; definition: Definition; qualified: number; awarded: number; claimed: number; revoked: number }>`
    with course_credential as (select id from credential where context_ref = ${contextRef}),
    qualified as (
      select credential_id, count(*) filter (where qualified)::int as n from (
        select distinct on (credential_id, user_id) credential_id, qualified from award_decision
        where credential_id in (select id from course_credential)
        order by credential_id, user_id, decided_at desc, id desc) latest
      group by credential_id),
    held as (
      select credential_id, count(*) filter (where live)::int as awarded, count(*) filter (where not live)::int as revoked from (
        select credential_id, user_id, bool_or(revoked_at is null) as live from award
        where credential_id in (select id from course_credential) group by credential_id, user_id) per_learner
      group by credential_id),
    claimed as (
      select credential_id, count(distinct user_id)::int as n from issued_credential
      where credential_id in (select id from course_credential) and revoked_at is null group by credential_id)
    select c.id, c.current_revision, r.definition,
      coalesce(q.n, 0) as qualified, coalesce(h.awarded, 0) as awarded, coalesce(h.revoked, 0) as revoked, coalesce(i.n, 0) as claimed
    from credential c
    join credential_revision r on r.credential_id = c.id and r.revision = c.current_revision
    left join qualified q on q.credential_id = c.id
    left join held h on h.credential_id = c.id
    left join claimed i on i.credential_id = c.id
    where c.context_ref = ${contextRef}
    order by c.created_at`.execute(db);
  return rows.map((r) => ({ id: r.id, name: r.definition.name, revision: r.current_revision, qualified: r.qualified, awarded: r.awarded, claimed: r.claimed, revoked: r.revoked }));
}

export class CourseDashboard {
  constructor(private readonly db: Db, private readonly issuance: IssuanceService) {}

  /** One credential of this course; undefined for an id of another course or no credential at all. */
  async credential(course: CourseRef, id: string): Promise<{ id: string; name: string; revision: number } | undefined> {
    const row = await this.db.selectFrom('credential as c')
      .innerJoin('credential_revision as r', (j) => j.onRef('r.credential_id', '=', 'c.id').onRef('r.revision', '=', 'c.current_revision'))
      .select(['c.id', 'c.current_revision', 'r.definition'])
      .where('c.id', '=', id).where('c.context_ref', '=', course.contextRef).executeTakeFirst();
    return row && { id: row.id, name: (row.definition as unknown as Definition).name, revision: row.current_revision };
  }

  /** A page of the course's learners with their standing towards the credential, and how many match in all. */
  async learners(course: CourseRef, credentialId: string, query: LearnerQuery, page: { offset: number; limit: number }): Promise<{ rows: LearnerRow[]; total: number }> {
    const direction = sql.raw(query.dir === 'desc' ? 'desc' : 'asc');
    const order = {
      name: sql`lower(name) ${direction}, user_id ${direction}`,
      status: sql`${STATUS_ORDER} ${direction}, lower(name), user_id`,
      progress: sql`coalesce(progress, 0) ${direction}, lower(name), user_id`,
    }[query.sort];
    const { rows } = await sql<RawLearnerRow>`
      with standing as (
        select g.user_id,
          ${LEARNER_NAME} as name,
          g.member->>'email' as email,
          d.qualified, d.progress, d.revision as d_revision, d.columns_id, d.results_hash, d.evidence, d.decided_at,
          a.awarded_at, a.revoked_at, i.claimed_at,
          case when i.claimed_at is not null then 'claimed' when a.awarded_at is not null then 'awarded'
            when a.revoked_at is not null then 'revoked' when d.qualified then 'qualified' else 'in_progress' end as status
        from learner_gradebook g
        left join (
          select distinct on (user_id) user_id, qualified, progress, revision, columns_id, results_hash, evidence, decided_at from award_decision
          where credential_id = ${credentialId} order by user_id, decided_at desc, id desc) d on d.user_id = g.user_id
        left join (
          select user_id, max(awarded_at) filter (where revoked_at is null) as awarded_at,
            case when bool_or(revoked_at is null) then null else max(revoked_at) end as revoked_at
          from award where credential_id = ${credentialId} group by user_id) a on a.user_id = g.user_id
        left join (
          select user_id, max(issued_at) as claimed_at from issued_credential
          where credential_id = ${credentialId} and revoked_at is null group by user_id) i on i.user_id = g.user_id
        where g.context_ref = ${course.contextRef})
      select *, count(*) over ()::int as total from standing
      where true
        ${query.status ? sql`and status = ${query.status}` : sql``}
        ${query.q ? sql`and (name ilike ${likePattern(query.q)} or user_id ilike ${likePattern(query.q)})` : sql``}
        ${query.userId !== undefined ? sql`and user_id = ${query.userId}` : sql``}
      order by ${order}
      limit ${page.limit} offset ${page.offset}`.execute(this.db);
    return {
      // A page past the end has no row to carry the total.
      total: rows[0]?.total ?? (page.offset > 0 ? (await this.learners(course, credentialId, query, { offset: 0, limit: 1 })).total : 0),
      rows: rows.map((r) => ({
        userId: r.user_id, name: r.name, email: r.email, status: r.status, progress: r.progress ?? 0, qualified: r.qualified ?? false,
        awardedAt: r.awarded_at, claimedAt: r.claimed_at, revokedAt: r.revoked_at,
        decision: r.d_revision === null ? null : {
          credential_id: credentialId, revision: r.d_revision, user_id: r.user_id, columns_id: r.columns_id!, results_hash: r.results_hash!, evidence: r.evidence!, decided_at: r.decided_at!,
        },
      })),
    };
  }

  /** The roster names of these learners, for the pages that report on them. */
  async names(course: CourseRef, userIds: string[]): Promise<Map<string, string>> {
    if (userIds.length === 0) return new Map();
    const rows = await this.db.selectFrom('learner_gradebook as g').select(['g.user_id', LEARNER_NAME.as('name')])
      .where('g.context_ref', '=', course.contextRef).where('g.user_id', 'in', userIds).execute();
    return new Map(rows.map((r) => [r.user_id, r.name]));
  }

  /** Each row's latest decision explained (null before the first decision), in row order. */
  async explanations(contextRef: string, rows: LearnerRow[]): Promise<Array<Evaluation | null>> {
    const decided = rows.flatMap((r) => (r.decision ? [r.decision] : []));
    const evaluations = await explainDecisions(this.db, contextRef, decided);
    const byUser = new Map(decided.map((d, i) => [d.user_id, evaluations[i]!]));
    return rows.map((r) => byUser.get(r.userId) ?? null);
  }

  /** The credential's issuance log, newest first: run and staff awards, claims and revocations. */
  async log(course: CourseRef, credentialId: string, page: { offset: number; limit: number }): Promise<{ entries: LogEntry[]; total: number }> {
    const prefix = `${credentialId}/`;
    const { rows } = await sql<{ at: Date; action: LogEntry['action']; actor: string | null; user_id: string; learner_name: string | null; reason: string | null; total: number }>`
      with entry as (
        select a.awarded_at as at, 'award.automatic' as action, null::text as actor, a.user_id, null::text as reason, 0::bigint as seq
        from award a where a.credential_id = ${credentialId} and a.decision_id is not null
        union all
        select e.at, e.action, e.actor, substr(e.target, ${prefix.length + 1}), coalesce(e.details->>'note', e.details->>'reason'), e.id
        from audit_event e where e.action in ('award.manual', 'credential.revoked') and starts_with(e.target, ${prefix})
        union all
        select e.at, e.action, e.actor, e.details->>'userId', null, e.id
        from audit_event e where e.action = 'credential.issued' and e.details->>'credentialId' = ${credentialId})
      select entry.at, entry.action, entry.actor, entry.user_id, case when g.user_id is null then null else ${LEARNER_NAME} end as learner_name, entry.reason, count(*) over ()::int as total
      from entry left join learner_gradebook g on g.context_ref = ${course.contextRef} and g.user_id = entry.user_id
      order by entry.at desc, entry.seq desc
      limit ${page.limit} offset ${page.offset}`.execute(this.db);
    return {
      total: rows[0]?.total ?? 0,
      entries: rows.map((r) => ({ at: r.at, action: r.action, actor: r.actor, userId: r.user_id, learnerName: r.learner_name, reason: r.reason })),
    };
  }

  /** Staff awards for each learner in turn; each learner's award and its audit entry are one transaction. */
  async award(course: CourseRef, credentialId: string, userIds: string[], actor: string, note: string): Promise<Array<{ userId: string; outcome: AwardOutcome; revision?: number }>> {
    const out: Array<{ userId: string; outcome: AwardOutcome; revision?: number }> = [];
    for (const userId of new Set(userIds)) {
      try {
        const { revision } = await this.issuance.awardManually(course, credentialId, userId, actor, note);
        out.push({ userId, outcome: 'awarded', revision });
      } catch (err) {
        if (!(err instanceof IssuanceRefusal) || (err.reason !== 'already_awarded' && err.reason !== 'unknown_learner')) throw err;
        out.push({ userId, outcome: err.reason });
      }
    }
    return out;
  }

  /** Revocations for each learner in turn; each learner's revocation is one transaction. */
  async revoke(course: CourseRef, credentialId: string, userIds: string[], actor: string, reason: string): Promise<Array<{ userId: string; outcome: RevocationOutcome; revokedCredential?: string | null }>> {
    const unique = [...new Set(userIds)];
    const known = new Set(unique.length === 0 ? [] : (await this.db.selectFrom('learner_gradebook').select('user_id')
      .where('context_ref', '=', course.contextRef).where('user_id', 'in', unique).execute()).map((l) => l.user_id));
    const out: Array<{ userId: string; outcome: RevocationOutcome; revokedCredential?: string | null }> = [];
    for (const userId of unique) {
      if (!known.has(userId)) {
        out.push({ userId, outcome: 'unknown_learner' });
        continue;
      }
      try {
        const { revokedCredential } = await this.issuance.revoke(course, credentialId, userId, actor, reason);
        out.push({ userId, outcome: 'revoked', revokedCredential });
      } catch (err) {
        if (!(err instanceof IssuanceRefusal) || (err.reason !== 'already_revoked' && err.reason !== 'not_awarded')) throw err;
        out.push({ userId, outcome: err.reason });
      }
    }
    return out;
  }
}
