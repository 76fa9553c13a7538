import PgBoss from 'pg-boss';
import type { Logger } from 'pino';
import type { Database } from '../db/database.js';
import type { AwardingService } from './awarding.js';

const SWEEP_QUEUE = 'course-sync-sweep';
const SYNC_QUEUE = 'course-sync';

/**
 * Background gradebook syncs, so a learner who qualifies without coming back is still awarded.
 * pg-boss keeps the jobs in PostgreSQL: any number of app instances share them, the cron fires
 * once per tick across instances, and a course has at most one sync queued and one running.
 * A sync the LMS answers badly is retried with backoff; nothing is decided from it meanwhile.
 */
export class SyncScheduler {
  private constructor(private readonly boss: PgBoss) {}

  static async start(database: Database, awarding: AwardingService, logger: Logger, cron: string | undefined): Promise<SyncScheduler> {
    const c = database.connection;
    const target = c.connectionString ? { connectionString: c.connectionString } : { host: c.host!, port: c.port!, user: c.user!, database: c.database! };
    const boss = new PgBoss({ ...target, max: 2, schema: 'pgboss', supervise: true, schedule: cron !== undefined });
    boss.on('error', (err) => logger.warn({ err: err.message }, 'job queue error'));
    await boss.start();
    await boss.createQueue(SWEEP_QUEUE, { name: SWEEP_QUEUE, policy: 'singleton' });
    await boss.createQueue(SYNC_QUEUE, { name: SYNC_QUEUE, policy: 'stately', retryLimit: 5, retryDelay: 60, retryBackoff: true, expireInSeconds: 15 * 60 });
    if (cron) await boss.schedule(SWEEP_QUEUE, cron, {}, { tz: 'UTC' });
    else await boss.unschedule(SWEEP_QUEUE);

    await boss.work(SWEEP_QUEUE, async () => {
      const courses = await database.db.selectFrom('lti_context as c')
        .select('c.id')
        .where('c.ags_lineitems_url', 'is not', null)
        .where(({ exists, selectFrom }) => exists(selectFrom('credential as k').select('k.id').whereRef('k.context_ref', '=', 'c.id')))
        .execute();
      for (const { id } of courses) await boss.send(SYNC_QUEUE, { contextRef: id }, { singletonKey: id });
      logger.info({ courses: courses.length }, 'course syncs queued');
    });
    await boss.work<{ contextRef: string }>(SYNC_QUEUE, { batchSize: 1, includeMetadata: true }, async ([job]) => {
      const { contextRef } = job!.data;
      // A sync that succeeded after this job was queued (another sweep's, or a manual one) already
      // read what this one would: a second sweep while the first sync runs reads nothing again.
      const fresher = await database.db.selectFrom('course_sync').select('last_success_at')
        .where('context_ref', '=', contextRef).where('last_success_at', '>', job!.createdOn).executeTakeFirst();
      if (fresher) {
        logger.info({ contextRef }, 'course sync skipped: read since it was queued');
        return;
      }
      const outcome = await awarding.syncCourse(contextRef, 'scheduled');
      // Failing the job hands the retry to pg-boss' backoff.
      if (!outcome.ok) throw new Error(`gradebook unavailable (${outcome.error})`);
    });
    return new SyncScheduler(boss);
  }

  /** Queues a sweep now, as the cron would. */
  async sweepNow(): Promise<void> {
    await this.boss.send(SWEEP_QUEUE, {});
  }

  async stop(): Promise<void> {
    await this.boss.stop({ graceful: true, wait: true, timeout: 10_000 });
  }
}
