import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { Db } from '../db/database.js';
import type { IssuanceService } from './issuance-service.js';

/** Signings in flight per course run: enough to keep the signing pool's threads busy. */
const IN_FLIGHT = 16;
/** The first key of the advisory locks that keep two instances off one course's backlog. */
const LOCK_SPACE = 8_224_417;

interface PendingAward {
  credential_id: string;
  user_id: string;
  issuer: string;
  client_id: string;
}

/**
 * Issues, in the background, the awards of credentials whose definition says autoIssue: after
 * each awarding run of a course, and at start-up for whatever a stopped or killed process left.
 * Each credential is written whole in one transaction and the one-per-award constraint refuses a
 * second, so a crash at any point loses nothing and duplicates nothing: the next run resumes.
 * Across instances a session advisory lock per course, which PostgreSQL drops with the session of
 * a dead process, keeps two from signing the same backlog.
 */
export class AutomaticIssuance {
  private readonly running = new Map<string, Promise<void>>();
  private readonly requestedAgain = new Set<string>();
  private closed = false;

  constructor(private readonly db: Db, private readonly issuance: IssuanceService, private readonly logger: Logger) {}

  /** Starts a run for the course unless one is going; a request during a run gets one more after it. */
  request(contextRef: string): void {
    if (this.closed) return;
    if (this.running.has(contextRef)) {
      this.requestedAgain.add(contextRef);
      return;
    }
    const run = this.runCourse(contextRef)
      .catch((err: Error) => this.logger.warn({ contextRef, err: err.message }, 'automatic issuance failed; it is retried on the next run'))
      .finally(() => {
        this.running.delete(contextRef);
        if (this.requestedAgain.delete(contextRef)) this.request(contextRef);
      });
    this.running.set(contextRef, run);
  }

  /** Requests a run for every course with automatic awards still to issue; returns how many. */
  async resume(): Promise<number> {
    const courses = await this.pending().select('c.context_ref').distinct().execute();
    for (const { context_ref } of courses) this.request(context_ref);
    if (courses.length) this.logger.info({ courses: courses.length }, 'automatic issuance resumed');
    return courses.length;
  }

  /** Resolves when no run is going (runs requested meanwhile included). */
  async idle(): Promise<void> {
    while (this.running.size) await Promise.all(this.running.values());
  }

  /** Takes no new work: runs stop after the signings in flight, and what is left waits for the next start. */
  async close(): Promise<void> {
    this.closed = true;
    await this.idle();
  }

  private pending() {
    return this.db.selectFrom('award as a')
      .innerJoin('credential as c', 'c.id', 'a.credential_id')
      .innerJoin('credential_revision as r', (j) => j.onRef('r.credential_id', '=', 'a.credential_id').onRef('r.revision', '=', 'a.revision'))
      .leftJoin('issued_credential as i', (j) => j.onRef('i.credential_id', '=', 'a.credential_id').onRef('i.revision', '=', 'a.revision').onRef('i.user_id', '=', 'a.user_id'))
      .where('a.revoked_at', 'is', null).where('i.id', 'is', null)
      .where(sql<boolean>`(r.definition->>'autoIssue')::boolean`);
  }

  private async runCourse(contextRef: string): Promise<void> {
    await this.db.connection().execute(async (session) => {
      const lock = sql`${LOCK_SPACE}::int, hashtext(${contextRef})`;
      const { rows } = await sql<{ locked: boolean }>`select pg_try_advisory_lock(${lock}) as locked`.execute(session);
      if (!rows[0]!.locked) return; // another instance is issuing this course; it takes new awards too
      try {
        await this.issuePending(contextRef);
      } finally {
        await sql`select pg_advisory_unlock(${lock})`.execute(session);
      }
    });
  }

  private async issuePending(contextRef: string): Promise<void> {
    const started = Date.now();
    const awards: PendingAward[] = await this.pending()
      .innerJoin('lti_context as x', 'x.id', 'c.context_ref')
      .select(['a.credential_id', 'a.user_id', 'x.issuer', 'x.client_id'])
      .where('c.context_ref', '=', contextRef).orderBy('a.awarded_at').execute();
    if (!awards.length) return;
    let next = 0;
    let issued = 0;
    let failed = 0;
    await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, awards.length) }, async () => {
      while (!this.closed && next < awards.length) {
        const award = awards[next++]!;
        try {
          const { created } = await this.issuance.claim({ contextRef, issuer: award.issuer, clientId: award.client_id }, award.credential_id, award.user_id, {});
          if (created) issued += 1;
        } catch (err) {
          failed += 1;
          this.logger.warn({ contextRef, credentialId: award.credential_id, err: (err as Error).message }, 'an automatic award could not be issued; it is retried on the next run');
        }
      }
    }));
    this.logger.info({ contextRef, pending: awards.length, issued, failed, left: awards.length - next, ms: Date.now() - started }, 'automatic issuance ran');
  }
}
