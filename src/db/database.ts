import { Kysely, Migrator, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { DATABASE_CONNECT_TIMEOUT_MS } from './availability.js';
import { EmbeddedDatabase } from './embedded-database.js';
import { EmbeddedPostgres, type SocketConnection } from './embedded-postgres.js';
import { migrations } from './migrations/index.js';
import type { Tables } from './schema.js';

export type Db = Kysely<Tables>;

/** How ltijs-sequelize reaches the same database: constructor arguments for its plugin. */
export interface SequelizeTarget {
  database: string;
  user: string;
  password: string | undefined;
  options: { host: string; port: number; dialect: 'postgres'; logging: false; dialectOptions: { connectionTimeoutMillis: number; ssl?: { rejectUnauthorized: boolean } }; pool: { max: number } };
}

export interface Database {
  mode: 'embedded' | 'server';
  db: Db;
  sequelize: SequelizeTarget;
  /** How other PostgreSQL clients (the job queue) reach the same database. */
  connection: pg.PoolConfig;
  /** The embedded database's process, when this opener started it. */
  embeddedPid(): number | undefined;
  /** Answers when PostgreSQL does; used by /readyz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

function targetFromUrl(url: string): { pool: pg.PoolConfig; sequelize: SequelizeTarget } {
  const u = new URL(url);
  const sslmode = u.searchParams.get('sslmode');
  const ssl = sslmode && sslmode !== 'disable' ? { rejectUnauthorized: sslmode === 'verify-full' || sslmode === 'verify-ca' } : undefined;
  return {
    pool: { connectionString: url, max: 10, connectionTimeoutMillis: DATABASE_CONNECT_TIMEOUT_MS },
    sequelize: {
      database: decodeURIComponent(u.pathname.slice(1)) || 'postgres',
      user: decodeURIComponent(u.username) || 'postgres',
      password: u.password ? decodeURIComponent(u.password) : undefined,
      options: {
        host: u.hostname, port: Number(u.port || 5432), dialect: 'postgres', logging: false, pool: { max: 5 },
        dialectOptions: { connectionTimeoutMillis: DATABASE_CONNECT_TIMEOUT_MS, ...(ssl ? { ssl } : {}) },
      },
    },
  };
}

function targetFromSocket(c: SocketConnection): { pool: pg.PoolConfig; sequelize: SequelizeTarget } {
  return {
    pool: { ...c, max: 4, connectionTimeoutMillis: DATABASE_CONNECT_TIMEOUT_MS },
    sequelize: {
      database: c.database, user: c.user, password: undefined,
      options: { host: c.host, port: c.port, dialect: 'postgres', logging: false, pool: { max: 4 }, dialectOptions: { connectionTimeoutMillis: DATABASE_CONNECT_TIMEOUT_MS } },
    },
  };
}

export async function migrate(db: Db): Promise<string[]> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw new Error(`Database migration failed: ${(error as Error).message}`);
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/**
 * Opens PostgreSQL: the server at DATABASE_URL, or the embedded PGlite under DATA_DIR (reusing
 * the socket of a tool process that already has it open, so the CLI works beside a running tool).
 * Pending migrations are applied before anything else touches the database.
 */
export async function openDatabase(config: Pick<Config, 'databaseUrl' | 'dataDir'>, logger: Logger): Promise<Database> {
  let embedded: EmbeddedDatabase | undefined;
  let target;
  if (config.databaseUrl) {
    target = targetFromUrl(config.databaseUrl);
  } else {
    const running = await EmbeddedPostgres.runningServer(config.dataDir);
    if (running) {
      target = targetFromSocket(running);
    } else {
      embedded = await EmbeddedDatabase.start(config.dataDir, logger);
      target = targetFromSocket(embedded.connection);
    }
  }
  const pool = new pg.Pool(target.pool);
  // A lost connection, idle or mid-query, is logged once by its client's listener; without these
  // listeners its error event would end the process. The query it was running fails on its own.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', (err) => logger.warn({ err: err.message }, 'database connection lost')));
  const db = new Kysely<Tables>({ dialect: new PostgresDialect({ pool }) });
  try {
    const applied = await migrate(db);
    if (applied.length) logger.info({ migrations: applied }, 'database migrations applied');
  } catch (err) {
    await db.destroy();
    await embedded?.stop();
    throw err;
  }
  return {
    mode: config.databaseUrl ? 'server' : 'embedded',
    embeddedPid: () => embedded?.pid,
    db,
    sequelize: target.sequelize,
    connection: { ...target.pool, max: undefined },
    ping: async () => {
      await sql`select 1`.execute(db);
    },
    close: async () => {
      await db.destroy();
      await embedded?.stop();
    },
  };
}
