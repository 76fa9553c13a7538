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
