import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** One statement on a PostgreSQL server's admin connection (CREATE / DROP DATABASE of the --postgres option). */
export async function adminQuery(url: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

/** A fresh database on the server of `adminUrl` for one benchmark, and the tool's environment for it. */
export async function benchDatabase(adminUrl: string): Promise<{ name: string; env: Record<string, string>; dispose: () => Promise<void> }> {
  const name = `microcred_bench_${randomBytes(6).toString('hex')}`;
  await adminQuery(adminUrl, `CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    name,
    env: { DATABASE_URL: url.toString(), LTI_ENCRYPTION_KEY: randomBytes(32).toString('hex') },
    dispose: () => adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}
