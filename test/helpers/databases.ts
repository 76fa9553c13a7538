import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { randomBytes } from 'node:crypto';

/**
 * The databases a suite runs against: always the embedded PGlite, and the PostgreSQL server at
 * TEST_DATABASE_URL when set (.ci/run sets it when one answers). Each suite gets a fresh database.
 */
export interface TestDatabase {
  name: 'pglite' | 'postgres';
  /** Environment for loadConfig: DATA_DIR for PGlite, DATABASE_URL + key for the server. */
  env: Record<string, string>;
  dataDir: string;
  dispose(): Promise<void>;
}

export const DATABASE_KINDS: Array<TestDatabase['name']> = process.env.TEST_DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];

export async function createTestDatabase(kind: TestDatabase['name']): Promise<TestDatabase> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'microcred-test-'));
  if (kind === 'pglite') {
    return { name: kind, env: { DATA_DIR: dataDir }, dataDir, dispose: async () => rmSync(dataDir, { recursive: true, force: true }) };
  }
  const admin = process.env.TEST_DATABASE_URL!;
  const dbName = `microcred_test_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  await client.query(`CREATE DATABASE ${dbName}`);
  await client.end();
  const url = new URL(admin);
  url.pathname = `/${dbName}`;
  return {
    name: kind,
    env: { DATA_DIR: dataDir, DATABASE_URL: url.toString(), LTI_ENCRYPTION_KEY: randomBytes(32).toString('hex') },
    dataDir,
    dispose: async () => {
      const c = new pg.Client({ connectionString: admin });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      await c.end();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
