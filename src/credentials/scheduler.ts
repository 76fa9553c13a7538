import { setTimeout as delay } from 'node:timers/promises';
import type pg from 'pg';
import PgBoss from 'pg-boss';
import type { Logger } from 'pino';
import { isDatabaseUnavailable } from '../db/availability.js';
import type { Database } from '../db/database.js';
import type { AwardingService } from './awarding.js';

const SWEEP_QUEUE = 'course-sync-sweep';
const SYNC_QUEUE = 'course-sync';
/** How often an idle worker asks for a job, as pg-boss' own default. */
const POLL_MS = 2_000;
const STOP_TIMEOUT_MS = 10_000;

/**
 * Background gradebook syncs, so a learner who qualifies without coming back is still awarded.
 * pg-boss keeps the jobs in PostgreSQL: any number of app instances share them, the cron fires
 * once per tick across instances, and a course has at most one sync queued and one running.
 * A sync the LMS answers badly is retried with backoff; nothing is decided from it meanwhile.
 */
export class SyncScheduler {
  private readonly stopping = new AbortController();
  private readonly workers: Array<Promise<void>> = [];

  private constructor(
    private readonly boss: PgBoss,
    private readonly logger: Logger,
  ) {}

  static async start(database: Database, awarding: AwardingService, logger: Logger, cron: string | undefined): Promise<SyncScheduler> {
    const c = database.connection;
    const target = c.connectionString ? { connectionString: c.connectionString } : { host: c.host!, port: c.port!, user: c.user!, database: c.database! };
    // pg-boss hands the options to its pg.Pool, the connect timeout among them.
    const options: PgBoss.ConstructorOptions & Pick<pg.PoolConfig, 'connectionTimeoutMillis'> = {
      ...target, connectionTimeoutMillis: c.connectionTimeoutMillis, max: 2, schema: 'pgboss', supervise: true, schedule: cron !== undefined,
    };
    const boss = new PgBoss(options);
    boss.on('error', (err) => logger.warn({ err: err.message }, 'job queue error'));
    await boss.start();
    await boss.createQueue(SWEEP_QUEUE, { name: SWEEP_QUEUE, policy: 'singleton' });
    await boss.createQueue(SYNC_QUEUE, { name: SYNC_QUEUE, policy: 'stately', retryLimit: 5, retryDelay: 60, retryBackoff: true, expireInSeconds: 15 * 60 });
    if (cron) await boss.schedule(SWEEP_QUEUE, cron, {}, { tz: 'UTC' });
    else await boss.unschedule(SWEEP_QUEUE);

    const scheduler = new SyncScheduler(boss, logger);
    scheduler.work(SWEEP_QUEUE, async () => {
      const courses = await database.db.selectFrom('lti_context as c')
        .select('c.id')
        .where('c.ags_lineitems_url', 'is not', null)
        .where(({ exists, selectFrom }) => exists(selectFrom('credential as k').select('k.id').whereRef('k.context_ref', '=', 'c.id')))
        .execute();
      for (const { id } of courses) await boss.send(SYNC_QUEUE, { contextRef: id }, { singletonKey: id });
      logger.info({ courses: courses.length }, 'course syncs queued');
    });
    scheduler.work<{ contextRef: string }>(SYNC_QUEUE, async (job) => {
      const { contextRef } = job.data;
      // A sync that succeeded after this job was queued (another sweep's, or a manual one) already
      // read what this one would: a second sweep while the first sync runs reads nothing again.
      const fresher = await database.db.selectFrom('course_sync').select('last_success_at')
        .where('context_ref', '=', contextRef).where('last_success_at', '>', job.createdOn).executeTakeFirst();
      if (fresher) {
        logger.info({ contextRef }, 'course sync skipped: read since it was queued');
        return;
      }
      const outcome = await awarding.syncCourse(contextRef, 'scheduled');
      // Failing the job hands the retry to pg-boss' backoff.
      if (!outcome.ok) throw new Error(`gradebook unavailable (${outcome.error})`);
    });
    return scheduler;
  }

  /**
   * Runs a queue's jobs one at a time. Not pg-boss' work(): that records a job's outcome without
   * awaiting it, so with the database down the failed write was an unhandled rejection, which
   * ends the process.
   */
  private work<T extends object>(queue: string, run: (job: PgBoss.JobWithMetadata<T>) => Promise<void>): void {
    this.workers.push((async () => {
      while (!this.stopping.signal.aborted) {
        let job: PgBoss.JobWithMetadata<T> | undefined;
        try {
          // No jobs while the database is unreachable: pg-boss' fetch() answers none.
          [job] = await this.boss.fetch<T>(queue, { batchSize: 1, includeMetadata: true });
        } catch (err) {
          this.logger.warn({ queue, err: (err as Error).message }, 'job queue error');
        }
        if (!job) {
          await delay(POLL_MS, undefined, { signal: this.stopping.signal }).catch(() => undefined);
          continue;
        }
        let failure: Error | undefined;
        try {
          await run(job);
        } catch (err) {
          failure = err as Error;
        }
        await this.record(queue, job.id, failure);
      }
    })());
  }

  /**
   * Completes or fails the job. While the database is unreachable the worker waits and tries again,
   * so the job's course is not held by an active job until it expires (15 minutes for a sync).
   */
  private async record(queue: string, jobId: string, failure: Error | undefined): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        if (failure) await this.boss.fail(queue, jobId, failure);
        else await this.boss.complete(queue, jobId);
        return;
      } catch (err) {
        const waiting = isDatabaseUnavailable(err) && !this.stopping.signal.aborted;
        if (attempt === 0 || !waiting) {
          this.logger.warn({ queue, jobId, err: (err as Error).message }, waiting ? 'job outcome not recorded yet; trying again' : 'job outcome not recorded; the job runs again once it expires');
        }
        if (!waiting) return;
        await delay(POLL_MS, undefined, { signal: this.stopping.signal }).catch(() => undefined);
      }
    }
  }

  /** Queues a sweep now, as the cron would. */
  async sweepNow(): Promise<void> {
    await this.boss.send(SWEEP_QUEUE, {});
  }

  /** Lets running jobs finish (for up to STOP_TIMEOUT_MS), then stops pg-boss. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await Promise.race([Promise.all(this.workers), delay(STOP_TIMEOUT_MS, undefined, { ref: false })]);
    await this.boss.stop({ graceful: true, wait: true, timeout: STOP_TIMEOUT_MS });
  }
}
