import { createHash } from 'node:crypto';
import { sql, type Transaction } from 'kysely';
import type { Logger } from 'pino';
import { compileCriteria, prerequisitesOf, type CompiledCriteria, type Criteria, type Evaluation } from '../criteria/index.js';
import type { Db } from '../db/database.js';
import type { DecisionEvidence, Tables } from '../db/schema.js';
import type { GradebookClients } from '../gradebook/client.js';
import { GradebookError } from '../gradebook/errors.js';
import { learnerSnapshots } from '../gradebook/snapshot.js';
import type { GradebookLineItem, LearnerSnapshot, RosterMember } from '../gradebook/types.js';
import type { Definition } from './definition-schema.js';

export type RunTrigger = 'launch' | 'course_sync' | 'scheduled';

/** A course with the service endpoints its launches gave. */
export interface CourseServices {
  contextRef: string;
  issuer: string;
  clientId: string;
  productFamily: string | null;
  lineItemsUrl: string | null;
  membershipsUrl: string | null;
}

/** A learner's fresh verdict with its explanation: single-learner runs only. */
export interface Standing {
  credentialId: string;
  revision: number;
  userId: string;
  qualified: boolean;
  awarded: boolean;
  evaluation: Evaluation;
}

export type RunOutcome =
  /** `standings` only for a single learner's run: a course run keeps counts, not 10,000 evaluations. */
  | { ok: true; fetchedAt: string; learners: number; qualified: number; standings: Standing[]; newAwards: number; requests: number }
  /** The LMS could not be read; nothing was decided. */
  | { ok: false; error: string; nextAttemptAt: Date };

interface CourseCredential {
  id: string;
  revision: number;
  definition: Definition;
  compiled: CompiledCriteria;
  prerequisites: string[];
  writeBackLineItemUrl: string | null;
}

/** Learners persisted per transaction in a course run: bounded memory and lock time. */
const CHUNK = 500;
const WRITE_BACK_TAG = 'microcredential';

/**
 * Reads the gradebook, evaluates every credential of a course and records the outcome: a decision
 * (with the gradebook evidence it was made on) whenever a verdict or its evidence changes, and one
 * award per learner per revision when qualified. If the LMS cannot be read in full, nothing is
 * decided and the course's sync status says when the next attempt is due.
 */
export class AwardingService {
  /**
   * `interactive` serves a learner waiting on a launch: few attempts and short timeouts, falling
   * back to the last recorded verdicts. `background` serves syncs, which can afford patience.
   */
  constructor(
    private readonly db: Db,
    private readonly clients: { interactive: GradebookClients; background: GradebookClients },
    private readonly logger: Logger,
    private readonly retryDelayMs = 5 * 60_000,
  ) {}

  private afterRun: ((contextRef: string) => void) | undefined;

  /** Told after each successful course run, and after a launch that made an award: e.g. to issue in the background what definitions issue automatically. */
  onRunCompleted(listener: (contextRef: string) => void): void {
    this.afterRun = listener;
  }

  async courseServices(contextRef: string): Promise<CourseServices | undefined> {
    const row = await this.db.selectFrom('lti_context as c')
      .leftJoin('platform_registration as p', (j) => j.onRef('p.issuer', '=', 'c.issuer').onRef('p.client_id', '=', 'c.client_id'))
      .select(['c.id', 'c.issuer', 'c.client_id', 'p.product_family', 'c.ags_lineitems_url', 'c.nrps_memberships_url'])
      .where('c.id', '=', contextRef).executeTakeFirst();
    return row && {
      contextRef: row.id, issuer: row.issuer, clientId: row.client_id, productFamily: row.product_family ?? null,
      lineItemsUrl: row.ags_lineitems_url, membershipsUrl: row.nrps_memberships_url,
    };
  }

  /** The course's gradebook columns, read now (definitions are checked against them) and kept. */
  async courseLineItems(contextRef: string): Promise<GradebookLineItem[]> {
    const course = await this.courseServices(contextRef);
    if (!course?.lineItemsUrl) return [];
    const lineItems = await this.client(course).listLineItems(course.lineItemsUrl);
    await storeCourseColumns(this.db, contextRef, lineItems, new Date().toISOString());
    return lineItems;
  }

  /** At a learner's launch: only that learner's results (AGS user_id filter). */
  /**
   * One learner, at their launch. `member` is who the launch says they are (signed by the
   * platform), kept as their roster entry until a course read brings the roster's.
   */
  async evaluateLearner(contextRef: string, userId: string, member?: RosterMember): Promise<RunOutcome> {
    const course = await this.courseServices(contextRef);
    const credentials = await this.courseCredentials(contextRef);
    if (!course?.lineItemsUrl || credentials.length === 0) return { ok: true, fetchedAt: new Date().toISOString(), learners: 0, qualified: 0, standings: [], newAwards: 0, requests: 0 };
    const records = await this.learnerRecords(course, credentials, [userId]);
    try {
      const { snapshot, stats } = await this.client(course, 'interactive').fetchLearnerSnapshot({
        lineItemsUrl: course.lineItemsUrl, userId, heldCredentials: records.held.get(userId) ?? [], staffApprovals: records.approvals.get(userId) ?? [],
      });
      const outcome = await this.decide(course, credentials, [snapshot], new Map(member ? [[userId, member]] : []), 'launch', true);
      return { ok: true, fetchedAt: snapshot.fetchedAt, ...outcome, requests: stats.requests };
    } catch (err) {
      if (err instanceof GradebookError) return this.failed(course, err);
      throw err;
    }
  }

  /**
   * The whole course: roster, every result, every learner. Course runs take turns within a
   * process, so its memory holds one course's gradebook at a time, whatever asks for runs.
   */
  syncCourse(contextRef: string, trigger: Exclude<RunTrigger, 'launch'>): Promise<RunOutcome> {
    const run = this.courseRuns.then(() => this.runCourse(contextRef, trigger));
    this.courseRuns = run.catch(() => undefined);
    return run;
  }

  private courseRuns: Promise<unknown> = Promise.resolve();

  private async runCourse(contextRef: string, trigger: Exclude<RunTrigger, 'launch'>): Promise<RunOutcome> {
    const course = await this.courseServices(contextRef);
    if (!course) throw new Error(`unknown course ${contextRef}`);
    const credentials = await this.courseCredentials(contextRef);
    if (!course.lineItemsUrl || !course.membershipsUrl) {
      return this.failed(course, new GradebookError('not_found', '/', 0, undefined, 'the LMS has not offered its gradebook (AGS) and roster (NRPS) services for this course'));
    }
    let gradebook;
    try {
      gradebook = await this.client(course).fetchCourseGradebook({ lineItemsUrl: course.lineItemsUrl, membershipsUrl: course.membershipsUrl });
    } catch (err) {
      if (err instanceof GradebookError) return this.failed(course, err);
      throw err;
    }
    const learnerIds = gradebook.members.map((m) => m.userId);
    const records = await this.learnerRecords(course, credentials, learnerIds);
    const snapshots = learnerSnapshots(gradebook, { heldCredentials: records.held, staffApprovals: records.approvals });
    const members = new Map(gradebook.members.map((m) => [m.userId, m]));
    const outcome = await this.decide(course, credentials, snapshots, members, trigger, false);
    await this.db.insertInto('course_sync').values({ context_ref: course.contextRef, last_attempt_at: new Date(), last_success_at: new Date(), last_error: null, next_attempt_at: null })
      .onConflict((oc) => oc.column('context_ref').doUpdateSet({ last_attempt_at: new Date(), last_success_at: new Date(), last_error: null, next_attempt_at: null }))
      .execute();
    this.logger.info({ contextRef, trigger, learners: snapshots.length, newAwards: outcome.newAwards, requests: gradebook.stats.requests }, 'course gradebook synced');
    return { ok: true, fetchedAt: gradebook.fetchedAt, ...outcome, requests: gradebook.stats.requests };
  }

  private client(course: CourseServices, use: 'interactive' | 'background' = 'background') {
    return this.clients[use].forPlatform(course.issuer, course.clientId, course.productFamily);
  }

  private async failed(course: CourseServices, err: GradebookError): Promise<RunOutcome> {
    const nextAttemptAt = new Date(Date.now() + this.retryDelayMs);
    const values = { last_attempt_at: new Date(), last_error: `${err.kind}: ${err.message}`, next_attempt_at: nextAttemptAt };
    await this.db.insertInto('course_sync').values({ context_ref: course.contextRef, last_success_at: null, ...values })
      .onConflict((oc) => oc.column('context_ref').doUpdateSet(values)).execute();
    this.logger.warn({ contextRef: course.contextRef, kind: err.kind, path: err.path, attempts: err.attempts }, 'gradebook could not be read; nothing decided');
    return { ok: false, error: err.kind, nextAttemptAt };
  }

  /** Current revisions, compiled, prerequisites first so an award earned in this run counts for the next. */
  private async courseCredentials(contextRef: string): Promise<CourseCredential[]> {
    const rows = await this.db.selectFrom('credential as c')
      .innerJoin('credential_revision as r', (j) => j.onRef('r.credential_id', '=', 'c.id').onRef('r.revision', '=', 'c.current_revision'))
      .select(['c.id', 'c.current_revision', 'c.write_back_line_item_url', 'r.definition', 'r.criteria'])
      .where('c.context_ref', '=', contextRef).orderBy('c.created_at').execute();
    const credentials = rows.map((r) => ({
      id: r.id,
      revision: r.current_revision,
      definition: r.definition as unknown as Definition,
      compiled: compileCriteria(r.criteria as Criteria),
      prerequisites: prerequisitesOf(r.criteria as Criteria),
      writeBackLineItemUrl: r.write_back_line_item_url,
    }));
    const ordered: CourseCredential[] = [];
    const placed = new Set<string>();
    const visit = (c: CourseCredential, path: Set<string>) => {
      if (placed.has(c.id) || path.has(c.id)) return;
      path.add(c.id);
      for (const p of c.prerequisites) {
        const dep = credentials.find((d) => d.id === p);
        if (dep) visit(dep, path);
      }
      placed.add(c.id);
      ordered.push(c);
    };
    for (const c of credentials) visit(c, new Set());
    return ordered;
  }

  /** Awards each learner holds from this platform's credentials, and staff approvals in this course. */
  private async learnerRecords(course: CourseServices, credentials: CourseCredential[], userIds: string[]) {
    const held = new Map<string, string[]>();
    const approvals = new Map<string, string[]>();
    for (let i = 0; i < userIds.length; i += CHUNK) {
      const users = userIds.slice(i, i + CHUNK);
      const awards = await this.db.selectFrom('award as a')
        .innerJoin('credential as c', 'c.id', 'a.credential_id')
        .innerJoin('lti_context as x', 'x.id', 'c.context_ref')
        .select(['a.user_id', 'a.credential_id'])
        .where('x.issuer', '=', course.issuer).where('x.client_id', '=', course.clientId).where('a.user_id', 'in', users)
        .execute();
      for (const a of awards) held.set(a.user_id, [...(held.get(a.user_id) ?? []), a.credential_id]);
      if (credentials.length) {
        const approved = await this.db.selectFrom('staff_approval').select(['user_id', 'credential_id'])
          .where('credential_id', 'in', credentials.map((c) => c.id)).where('user_id', 'in', users).execute();
        for (const a of approved) approvals.set(a.user_id, [...(approvals.get(a.user_id) ?? []), a.credential_id]);
      }
    }
    return { held, approvals };
  }

  /**
   * Judges every learner against every credential and records what changed. `explain` (a single
   * learner's launch) also builds the full explanation for the page; a course run only judges, and
   * explanations are rebuilt from the recorded evidence when someone looks (explanations.ts).
   */
  private async decide(course: CourseServices, credentials: CourseCredential[], snapshots: LearnerSnapshot[], members: Map<string, RosterMember>, trigger: RunTrigger, explain: boolean) {
    const standings: Standing[] = [];
    let newAwards = 0;
    let qualified = 0;
    const columns = snapshots[0] && await storeCourseColumns(this.db, course.contextRef, snapshots[0].lineItems, snapshots[0].fetchedAt);
    const credentialIds = credentials.map((c) => c.id);
    for (let i = 0; columns && i < snapshots.length; i += CHUNK) {
      // Stored as a list: each result names its line item, so the record's keys would repeat every URL.
      const chunk = snapshots.slice(i, i + CHUNK).map((snapshot) => ({ snapshot, resultsJson: JSON.stringify(Object.values(snapshot.results)) }))
        .map((s) => ({ ...s, resultsHash: contentHash(s.resultsJson) }));
      const judged = chunk.flatMap(({ snapshot, resultsHash }) => {
        const held = new Set(snapshot.heldCredentials);
        return credentials.map((credential) => {
          // Only what this credential's verdict depends on, so evidence is stable from run to run.
          const basis: LearnerSnapshot = {
            ...snapshot,
            heldCredentials: credential.prerequisites.filter((p) => held.has(p)).sort(),
            staffApprovals: snapshot.staffApprovals.filter((a) => a === credential.id),
          };
          const evaluation = explain ? credential.compiled.evaluate(credential.id, basis) : undefined;
          const verdict = evaluation ? { qualified: evaluation.qualified, progress: evaluation.progress.progress } : credential.compiled.judge(credential.id, basis);
          if (verdict.qualified) held.add(credential.id);
          return { credential, snapshot: basis, resultsHash, verdict, evaluation, hash: evidenceHash(columns.hash, resultsHash, basis, verdict.qualified) };
        });
      });
      const awardedNow = await this.db.transaction().execute(async (trx) => {
        await storeLearnerResults(trx, course.contextRef, chunk, members);
        // A course without credentials yet: its results are kept, there is nothing to decide.
        if (credentialIds.length === 0) return 0;
        const users = chunk.map((s) => s.snapshot.userId);
        const latest = await trx.selectFrom('award_decision')
          .distinctOn(['credential_id', 'user_id'])
          .select(['id', 'credential_id', 'user_id', 'revision', 'evidence_hash'])
          .where('credential_id', 'in', credentialIds).where('user_id', 'in', users)
          .orderBy('credential_id').orderBy('user_id').orderBy('decided_at', 'desc').orderBy('id', 'desc')
          .execute();
        const byLearner = new Map(judged.map((e) => [learnerKey(e.credential.id, e.snapshot.userId), e]));
        // A decision still stands while its revision and evidence are unchanged.
        const decisionIds = new Map<string, string>();
        for (const d of latest) {
          const key = learnerKey(d.credential_id, d.user_id);
          const e = byLearner.get(key);
          if (e && d.revision === e.credential.revision && d.evidence_hash === e.hash) decisionIds.set(key, d.id);
        }
        const changed = judged.filter((e) => !decisionIds.has(learnerKey(e.credential.id, e.snapshot.userId)));
        for (const rows of batches(changed)) {
          const inserted = await trx.insertInto('award_decision').values(rows.map((e) => ({
            credential_id: e.credential.id, revision: e.credential.revision, user_id: e.snapshot.userId, qualified: e.verdict.qualified,
            progress: e.verdict.progress, evidence: JSON.stringify(evidenceOf(e.snapshot)), columns_id: columns.id, results_hash: e.resultsHash, trigger, evidence_hash: e.hash,
          }))).returning(['id', 'credential_id', 'user_id']).execute();
          for (const d of inserted) decisionIds.set(learnerKey(d.credential_id, d.user_id), d.id);
        }
        const existingAwards = await trx.selectFrom('award').select(['credential_id', 'revision', 'user_id'])
          .where('credential_id', 'in', credentialIds).where('user_id', 'in', users).execute();
        const awarded = new Set(existingAwards.map((a) => `${a.credential_id}\n${a.revision}\n${a.user_id}`));
        const due = judged.filter((e) => e.verdict.qualified && !awarded.has(`${e.credential.id}\n${e.credential.revision}\n${e.snapshot.userId}`));
        let fresh = 0;
        for (const rows of batches(due)) {
          fresh += (await trx.insertInto('award').values(rows.map((e) => ({
            credential_id: e.credential.id, revision: e.credential.revision, user_id: e.snapshot.userId,
            decision_id: decisionIds.get(learnerKey(e.credential.id, e.snapshot.userId))!,
          }))).onConflict((oc) => oc.doNothing()).returning('user_id').execute()).length;
        }
        for (const e of judged) {
          if (e.verdict.qualified) qualified++;
          if (e.evaluation) {
            standings.push({
              credentialId: e.credential.id, revision: e.credential.revision, userId: e.snapshot.userId, qualified: e.verdict.qualified,
              awarded: e.verdict.qualified || awarded.has(`${e.credential.id}\n${e.credential.revision}\n${e.snapshot.userId}`), evaluation: e.evaluation,
            });
          }
        }
        return fresh;
      });
      newAwards += awardedNow;
    }
    await this.writeBack(course, credentials);
    // A launch that awarded nothing leaves nothing new to issue; course runs also retry what failed before.
    if (newAwards > 0 || trigger !== 'launch') this.afterRun?.(course.contextRef);
    return { learners: snapshots.length, qualified, standings, newAwards };
  }

  /** Scores "Micro-credential: <name>" in the LMS gradebook for awards not yet written; retried on later runs. */
  private async writeBack(course: CourseServices, credentials: CourseCredential[]): Promise<void> {
    if (!course.lineItemsUrl) return;
    const client = this.client(course);
    for (const credential of credentials.filter((c) => c.definition.writeBackToGradebook)) {
      const pending = await this.db.selectFrom('award').select(['user_id', 'revision', 'awarded_at'])
        .where('credential_id', '=', credential.id).where('written_back_at', 'is', null).execute();
      if (!pending.length) continue;
      try {
        let lineItemUrl = credential.writeBackLineItemUrl;
        if (!lineItemUrl) {
          lineItemUrl = (await client.ensureLineItem(course.lineItemsUrl, {
            label: `Micro-credential: ${credential.definition.name}`, scoreMaximum: 1, resourceId: credential.id, tag: WRITE_BACK_TAG,
          })).id;
          await this.db.updateTable('credential').set({ write_back_line_item_url: lineItemUrl }).where('id', '=', credential.id).execute();
        }
        for (const award of pending) {
          await client.postScore(lineItemUrl, { userId: award.user_id, scoreGiven: 1, scoreMaximum: 1, timestamp: award.awarded_at.toISOString() });
          await this.db.updateTable('award').set({ written_back_at: new Date() })
            .where('credential_id', '=', credential.id).where('revision', '=', award.revision).where('user_id', '=', award.user_id).execute();
        }
      } catch (err) {
        if (!(err instanceof GradebookError)) throw err;
        this.logger.warn({ credentialId: credential.id, kind: err.kind, path: err.path }, 'award write-back failed; it is retried on the next run');
      }
    }
  }
}

const learnerKey = (credentialId: string, userId: string) => `${credentialId}\n${userId}`;

/** Rows per INSERT: well inside PostgreSQL's 65,535 bind parameters whatever the row width. */
const ROWS_PER_INSERT = 1_000;

function* batches<T>(rows: T[]): Generator<T[]> {
  for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) yield rows.slice(i, i + ROWS_PER_INSERT);
}

const contentHash = (json: string) => createHash('sha256').update(json).digest('base64url');

/** What a decision was made on besides its columns and results, which it references. */
function evidenceOf(snapshot: LearnerSnapshot): DecisionEvidence {
  return { fetchedAt: snapshot.fetchedAt, heldCredentials: snapshot.heldCredentials, staffApprovals: snapshot.staffApprovals };
}

function evidenceHash(columnsHash: string, resultsHash: string, snapshot: LearnerSnapshot, qualified: boolean): string {
  return contentHash(JSON.stringify([columnsHash, resultsHash, qualified, snapshot.heldCredentials, snapshot.staffApprovals]));
}

/**
 * The gradebook's columns as read: the course's current ones, so pages show them without calling
 * the LMS, and this set among those decisions were made on (stored once per distinct set).
 */
async function storeCourseColumns(db: Db, contextRef: string, lineItems: GradebookLineItem[], fetchedAt: string): Promise<{ id: string; hash: string }> {
  const json = JSON.stringify(lineItems);
  const hash = contentHash(json);
  const values = { fetched_at: new Date(fetchedAt), line_items: json };
  await db.insertInto('course_gradebook').values({ context_ref: contextRef, ...values })
    .onConflict((oc) => oc.column('context_ref').doUpdateSet(values)).execute();
  const { id } = await db.insertInto('gradebook_columns').values({ context_ref: contextRef, columns_hash: hash, line_items: json })
    .onConflict((oc) => oc.columns(['context_ref', 'columns_hash']).doUpdateSet({ columns_hash: hash }))
    .returning('id').executeTakeFirstOrThrow();
  return { id, hash };
}

/**
 * Each learner's results as read: stored once per distinct content (learner_results), and the
 * learner's row pointing at them with the time of the read and the roster entry.
 */
async function storeLearnerResults(trx: Transaction<Tables>, contextRef: string, learners: Array<{ snapshot: LearnerSnapshot; resultsJson: string; resultsHash: string }>, members: Map<string, RosterMember>) {
  if (!learners.length) return;
  const known = new Set((await trx.selectFrom('learner_results').select('results_hash')
    .where('context_ref', '=', contextRef).where('results_hash', 'in', learners.map((l) => l.resultsHash)).execute()).map((r) => r.results_hash));
  const fresh = [...new Map(learners.filter((l) => !known.has(l.resultsHash)).map((l) => [l.resultsHash, l.resultsJson])).entries()];
  for (const rows of batches(fresh)) {
    await trx.insertInto('learner_results').values(rows.map(([results_hash, results]) => ({ context_ref: contextRef, results_hash, results })))
      .onConflict((oc) => oc.doNothing()).execute();
  }
  await trx.insertInto('learner_gradebook').values(learners.map(({ snapshot: s, resultsHash }) => ({
    context_ref: contextRef, user_id: s.userId, fetched_at: new Date(s.fetchedAt), results_hash: resultsHash,
    member: members.has(s.userId) ? JSON.stringify(members.get(s.userId)) : null,
  }))).onConflict((oc) => oc.columns(['context_ref', 'user_id']).doUpdateSet({
    fetched_at: sql`excluded.fetched_at`, results_hash: sql`excluded.results_hash`, member: sql`coalesce(excluded.member, learner_gradebook.member)`,
  })).execute();
}
