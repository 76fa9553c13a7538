import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // Who signs: an institution, a faculty, a MOOC provider; each a did:web under PUBLIC_URL.
  await db.schema
    .createTable('issuer_profile')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('slug', 'text', (c) => c.notNull().unique().check(sql`slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'`))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('url', 'text')
    .addColumn('email', 'text')
    .addColumn('description', 'text')
    .addColumn('image_url', 'text')
    .addColumn('country_code', 'text', (c) => c.check(sql`country_code ~ '^[A-Z]{2}$'`))
    .addColumn('is_default', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('issuer_profile_one_default').unique().on('issuer_profile').column('is_default').where(sql.ref('is_default'), '=', true).execute();

  // Every key an issuer ever signed with stays, so that old credentials keep verifying; one signs now.
  await db.schema
    .createTable('issuer_key')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('issuer_id', 'uuid', (c) => c.notNull().references('issuer_profile.id').onDelete('restrict'))
    .addColumn('public_key_multibase', 'text', (c) => c.notNull())
    .addColumn('sealed_secret', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('retired_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('issuer_key_one_current').unique().on('issuer_key').column('issuer_id').where(sql.ref('retired_at'), 'is', null).execute();

  // Bitstring status lists. Indexes are handed out as a permutation of a counter, so that
  // neighbouring credentials do not get neighbouring bits.
  await db.schema
    .createTable('status_list')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('issuer_id', 'uuid', (c) => c.notNull().references('issuer_profile.id').onDelete('restrict'))
    .addColumn('purpose', 'text', (c) => c.notNull().check(sql`purpose in ('revocation')`))
    .addColumn('allocated', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('multiplier', 'integer', (c) => c.notNull().check(sql`multiplier % 2 = 1`))
    .addColumn('offset', 'integer', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('signed', 'jsonb')
    .addColumn('signed_version', 'integer')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema.alterTable('award')
    .addColumn('awarded_by', 'text')
    .addColumn('note', 'text')
    .addColumn('revoked_at', 'timestamptz')
    .execute();
  // A staff award is not a criteria decision.
  await db.schema.alterTable('award').alterColumn('decision_id', (c) => c.dropNotNull()).execute();

  await db.schema
    .createTable('issued_credential')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('credential_id', 'uuid', (c) => c.notNull())
    .addColumn('revision', 'integer', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('issuer_id', 'uuid', (c) => c.notNull().references('issuer_profile.id').onDelete('restrict'))
    .addColumn('key_id', 'text', (c) => c.notNull().references('issuer_key.id').onDelete('restrict'))
    .addColumn('status_list_id', 'bigint', (c) => c.notNull().references('status_list.id').onDelete('restrict'))
    .addColumn('status_index', 'integer', (c) => c.notNull())
    .addColumn('document', 'jsonb', (c) => c.notNull())
    // For the printed certificate only; the credential itself names no one.
    .addColumn('holder_name', 'text')
    .addColumn('issued_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('revoked_at', 'timestamptz')
    .addColumn('revoked_by', 'text')
    .addColumn('revocation_reason', 'text')
    .addColumn('share_enabled', 'boolean', (c) => c.notNull().defaultTo(false))
    // Exactly one credential per learner per revision, whatever the number of concurrent claims.
    .addUniqueConstraint('issued_credential_one_per_award', ['credential_id', 'revision', 'user_id'])
    .addUniqueConstraint('issued_credential_status_bit', ['status_list_id', 'status_index'])
    .addForeignKeyConstraint('issued_credential_award_fk', ['credential_id', 'revision', 'user_id'], 'award', ['credential_id', 'revision', 'user_id'], (fk) => fk.onDelete('restrict'))
    .execute();
  await db.schema.createIndex('issued_credential_status_idx').on('issued_credential').column('status_list_id').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('issued_credential').execute();
  await db.schema.alterTable('award').dropColumn('awarded_by').dropColumn('note').dropColumn('revoked_at').execute();
  for (const table of ['status_list', 'issuer_key', 'issuer_profile']) await db.schema.dropTable(table).execute();
}
