import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Migrator, sql } from 'kysely';
import { loadConfig } from '../../src/config.js';
import { explainDecisions, latestDecisions } from '../../src/credentials/explanations.js';
import { ensureLearner, recordAccount } from '../../src/credentials/learners.js';
import { migrate, openDatabase } from '../../src/db/database.js';
import { migrations } from '../../src/db/migrations/index.js';
import { DataDirInUseError, EmbeddedPostgres } from '../../src/db/embedded-postgres.js';
import { createLogger } from '../../src/logger.js';
import { createLtiProvider } from '../../src/lti/provider.js';
import { createTestDatabase, DATABASE_KINDS, type TestDatabase } from '../helpers/databases.js';

const logger = createLogger('silent');

describe.each(DATABASE_KINDS)('database on %s', (kind) => {
  let target: TestDatabase;
  beforeAll(async () => {
    target = await createTestDatabase(kind);
  });
  afterAll(() => target.dispose());

  test('several instances starting together on an empty database all start (ltijs creates its tables once)', async () => {
    const fresh = await createTestDatabase(kind);
    try {
      const config = loadConfig(fresh.env);
      const first = await openDatabase(config, logger);
      // Embedded: the others reach the first one's database process through its socket, as a second instance would.
      const others = await Promise.all([openDatabase(config, logger), openDatabase(config, logger)]);
      const databases = [first, ...others];
      const providers = await Promise.allSettled(databases.map((database) => createLtiProvider(config, database)));
      expect(providers.map((p) => (p.status === 'rejected' ? String(p.reason) : 'started'))).toEqual(['started', 'started', 'started']);
      for (const p of providers) if (p.status === 'fulfilled') await p.value.Database.Close();
      for (const database of [...others, first]) await database.close();
    } finally {
      await fresh.dispose();
    }
  });

  test('an account seen by many requests at once becomes one learner, and stays with the learner it was linked to', async () => {
    const database = await openDatabase(loadConfig(target.env), logger);
    try {
      const account = { issuer: 'https://moodle.example.ac.jp', userId: 'learner-race' };
      const ids = await Promise.all(Array.from({ length: 20 }, () => ensureLearner(database.db, account)));
      expect(new Set(ids).size).toBe(1);
      const learners = () => database.db.selectFrom('learner').select('id').where('id', '=', ids[0]!).execute();
      expect(await learners()).toHaveLength(1);
      // Linked to a learner of another platform: seeing the account again makes no learner of its own.
      const other = await ensureLearner(database.db, { issuer: 'https://canvas.example.edu', userId: 'learner-77' });
      await database.db.updateTable('learner_account').set({ learner_id: other }).where('issuer', '=', account.issuer).where('user_id', '=', account.userId).execute();
      await database.db.deleteFrom('learner').where('id', '=', ids[0]!).execute();
      await Promise.all([recordAccount(database.db, account), ensureLearner(database.db, account)]);
      expect(await ensureLearner(database.db, account)).toBe(other);
      expect(await learners()).toHaveLength(0);
    } finally {
      await database.close();
    }
  });

  test('a rolled-back transaction leaves no rows while ltijs writes to the same database', async () => {
    const config = loadConfig(target.env);
    const database = await openDatabase(config, logger);
    const lti = await createLtiProvider(config, database);
    const ltijsDb = lti.Database as unknown as { Insert(key: false, table: string, row: object): Promise<unknown>; Get(key: false, table: string, q: object): Promise<unknown[] | false> };
    try {
      // ltijs keeps inserting nonces through its own Sequelize connections the whole time.
      let ltijsWrites = 0;
      let busy = true;
      const ltijsWork = (async () => {
        while (busy) {
          await ltijsDb.Insert(false, 'nonce', { nonce: `n-${ltijsWrites}` });
          ltijsWrites++;
        }
      })();
      const rollbacks = Array.from({ length: 10 }, (_, i) =>
        database.db.transaction().execute(async (trx) => {
          await trx.insertInto('audit_event').values({ actor: 'test', action: 'rollback-probe', target: String(i), details: '{}' }).execute();
          await new Promise((r) => setTimeout(r, 20));
          await trx.insertInto('audit_event').values({ actor: 'test', action: 'rollback-probe', target: `${i}b`, details: '{}' }).execute();
          throw new Error('roll back');
        }).catch((err: Error) => err.message));
      const commits = Array.from({ length: 5 }, (_, i) =>
        database.db.transaction().execute((trx) => trx.insertInto('audit_event').values({ actor: 'test', action: 'commit-probe', target: String(i), details: '{}' }).execute()));
      expect(await Promise.all(rollbacks)).toEqual(Array(10).fill('roll back'));
      await Promise.all(commits);
      busy = false;
      await ltijsWork;

      const probes = await database.db.selectFrom('audit_event').select(['action', sql<number>`count(*)::int`.as('n')]).groupBy('action').execute();
      expect(Object.fromEntries(probes.map((p) => [p.action, p.n]))).toEqual({ 'commit-probe': 5 });
      expect(ltijsWrites).toBeGreaterThan(0);
      const nonces = await sql<{ n: number }>`select count(*)::int as n from nonces`.execute(database.db);
      expect(nonces.rows[0]!.n).toBe(ltijsWrites);
    } finally {
      await lti.Database.Close();
      await database.close();
    }
  });

  test('migration 0004 moves earlier evidence into stored columns and results, keeping verdict and progress', async () => {
    const database = await openDatabase(loadConfig(target.env), logger);
    const { db } = database;
    try {
      const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
      expect((await migrator.migrateTo('0003_awarding_runs')).error).toBeUndefined();
      const { rows: [context] } = await sql<{ id: string }>`insert into lti_context (issuer, client_id, deployment_id, context_id, last_launch_at)
        values ('https://lms.example', 'c1', '1', 'MIG101', now()) returning id`.execute(db);
      const { rows: [credential] } = await sql<{ id: string }>`insert into credential (context_ref, current_revision, created_by) values (${context!.id}, 1, 't') returning id`.execute(db);
      const criteria = { type: 'score', select: { tag: 'quiz' }, minPercent: 60 };
      await sql`insert into credential_revision (credential_id, revision, definition, criteria, created_by)
        values (${credential!.id}, 1, '{}', ${JSON.stringify(criteria)}, 't')`.execute(db);
      const quiz = { id: 'https://lms.example/li/1', label: 'Quiz 1', scoreMaximum: 10 };
      // The course's last read columns know the tag that the decision's evidence did not keep.
      await sql`insert into course_gradebook (context_ref, fetched_at, line_items) values (${context!.id}, now(), ${JSON.stringify([{ ...quiz, tag: 'quiz' }])})`.execute(db);
      const evidence = { fetchedAt: '2026-10-01T00:00:00.000Z', lineItems: [quiz], results: { [quiz.id]: { lineItemId: quiz.id, score: 7, maximum: 10 } }, heldCredentials: [], staffApprovals: [] };
      await sql`insert into learner_gradebook (context_ref, user_id, fetched_at, results) values (${context!.id}, 'u1', now(), ${JSON.stringify(evidence.results)})`.execute(db);
      await sql`insert into award_decision (credential_id, revision, user_id, qualified, evaluation, evidence, trigger)
        values (${credential!.id}, 1, 'u1', true, ${JSON.stringify({ qualified: true, progress: { progress: 1 } })}, ${JSON.stringify(evidence)}, 'scheduled')`.execute(db);

      // Later migrations follow it in the same run.
      expect((await migrate(db))[0]).toBe('0004_decisions_keep_evidence');
      const decisions = await latestDecisions(db, [credential!.id]);
      expect(decisions).toMatchObject([{ qualified: true, progress: 1, evidence: { fetchedAt: evidence.fetchedAt, heldCredentials: [], staffApprovals: [] } }]);
      expect(Object.keys(decisions[0]!.evidence).sort()).toEqual(['fetchedAt', 'heldCredentials', 'staffApprovals']);
      const [explained] = await explainDecisions(db, context!.id, decisions);
      expect(explained).toMatchObject({ qualified: true, progress: { progress: 1, detail: { lineItemId: quiz.id, score: 7 } } });
      // The learner's row and the decision share one stored copy of the results.
      const { rows } = await sql<{ n: number; shared: boolean }>`select count(*)::int as n, bool_and(r.results_hash = d.results_hash) as shared
        from learner_results r, learner_gradebook g, award_decision d where g.results_hash = r.results_hash`.execute(db);
      expect(rows[0]).toEqual({ n: 1, shared: true });
    } finally {
      await database.close();
    }
  });

  test('data survives a restart, and migrations are not applied twice', async () => {
    const config = loadConfig(target.env);
    const first = await openDatabase(config, logger);
    await first.db.insertInto('audit_event').values({ actor: 'test', action: 'survives-restart', target: 'x', details: '{"n":1}' }).execute();
    await first.close();

    const second = await openDatabase(config, logger);
    try {
      const row = await second.db.selectFrom('audit_event').selectAll().where('action', '=', 'survives-restart').executeTakeFirstOrThrow();
      expect(row.details).toEqual({ n: 1 });
      const applied = await sql<{ name: string }>`select name from kysely_migration`.execute(second.db);
      expect(applied.rows.map((r) => r.name)).toEqual(Object.keys(migrations));
    } finally {
      await second.close();
    }
  });
});

describe('embedded server', () => {
  test('a second process cannot open the same data directory; a stale lock is ignored', async () => {
    const target = await createTestDatabase('pglite');
    try {
      const running = await EmbeddedPostgres.start(target.dataDir);
      await expect(EmbeddedPostgres.start(target.dataDir)).rejects.toThrow(DataDirInUseError);
      expect(await EmbeddedPostgres.runningServer(target.dataDir)).toMatchObject({ pid: process.pid });
      await running.stop();
      expect(await EmbeddedPostgres.runningServer(target.dataDir)).toBeUndefined();
      const again = await EmbeddedPostgres.start(target.dataDir);
      await again.stop();
    } finally {
      await target.dispose();
    }
  });

  test('the CLI-style opener reuses a running server instead of opening PGlite twice', async () => {
    const target = await createTestDatabase('pglite');
    const config = loadConfig(target.env);
    const server = await openDatabase(config, logger);
    const client = await openDatabase(config, logger);
    try {
      await server.db.insertInto('audit_event').values({ actor: 't', action: 'shared', target: 'x', details: '{}' }).execute();
      const seen = await client.db.selectFrom('audit_event').select('action').where('action', '=', 'shared').execute();
      expect(seen).toHaveLength(1);
    } finally {
      await client.close();
      await server.close();
      await target.dispose();
    }
  });

  test('a new data directory is created in a child process; a directory that is not a database is refused', async () => {
    const target = await createTestDatabase('pglite');
    try {
      const external = process.memoryUsage().external;
      const created = await EmbeddedPostgres.start(target.dataDir);
      await created.stop();
      // initdb's ~500 MiB of WebAssembly heap stayed in the child; opening the result costs far less.
      expect(process.memoryUsage().external - external).toBeLessThan(400 * 2 ** 20);
      expect(existsSync(path.join(target.dataDir, 'pgdata', 'PG_VERSION'))).toBe(true);
      expect(readdirSync(target.dataDir).filter((f) => f.includes('.init-'))).toEqual([]);

      const stranger = path.join(target.dataDir, 'other');
      mkdirSync(path.join(stranger, 'pgdata'), { recursive: true });
      writeFileSync(path.join(stranger, 'pgdata', 'notes.txt'), 'not a database');
      await expect(EmbeddedPostgres.start(stranger)).rejects.toThrow(/not an embedded database \(it has no PG_VERSION\)/);
      expect(readdirSync(path.join(stranger, 'pgdata'))).toEqual(['notes.txt']);
    } finally {
      await target.dispose();
    }
  });

  test('the embedded database runs in its own process, is started again if it dies, and stops with the tool', async () => {
    const target = await createTestDatabase('pglite');
    const database = await openDatabase(loadConfig(target.env), logger);
    try {
      const pid = database.embeddedPid()!;
      expect(pid).not.toBe(process.pid);
      await database.db.insertInto('audit_event').values({ actor: 't', action: 'before-crash', target: 'x', details: '{}' }).execute();
      process.kill(pid, 'SIGKILL');
      // Queries fail while it is down, then work again without reopening anything.
      const deadline = Date.now() + 30_000;
      let rows: unknown[] = [];
      while (Date.now() < deadline) {
        try {
          rows = await database.db.selectFrom('audit_event').select('action').where('action', '=', 'before-crash').execute();
          if (database.embeddedPid() !== pid) break;
        } catch {
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      expect(database.embeddedPid()).not.toBe(pid);
      expect(rows).toHaveLength(1);
      const restarted = database.embeddedPid()!;
      await database.close();
      expect(() => process.kill(restarted, 0)).toThrow();
    } finally {
      await database.close().catch(() => undefined);
      await target.dispose();
    }
  });
});
