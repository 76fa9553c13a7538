import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // Where the platform keeps this login's state when the browser blocks cookies in its iframe.
  await db.schema.alterTable('oidc_login').addColumn('storage_target', 'text').execute();

  // A launch whose id_token checked out but whose state must still be read back from the
  // platform's storage by the browser; the ticket is single use and short-lived.
  await db.schema
    .createTable('pending_launch')
    .addColumn('ticket', 'text', (c) => c.primaryKey())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('nonce', 'text', (c) => c.notNull())
    .addColumn('issuer', 'text', (c) => c.notNull())
    .addColumn('id_token', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('pending_launch_expires_idx').on('pending_launch').column('expires_at').execute();

  // Origins a platform's pages are served from, as its signed launches name them (return URLs,
  // service endpoints): the CSP frame-ancestors list. Canvas's issuer is not its framing origin.
  await db.schema
    .createTable('platform_origin')
    .addColumn('issuer', 'text', (c) => c.notNull())
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('origin', 'text', (c) => c.notNull().check(sql`origin ~ '^https?://[^/]+$'`))
    .addColumn('first_seen_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('platform_origin_pk', ['issuer', 'client_id', 'origin'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('platform_origin').execute();
  await db.schema.dropTable('pending_launch').execute();
  await db.schema.alterTable('oidc_login').dropColumn('storage_target').execute();
}
