import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // A person, as far as the tool can tell: one or more LMS accounts (platform + LTI sub).
  await db.schema
    .createTable('learner')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createTable('learner_account')
    .addColumn('issuer', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('learner_id', 'uuid', (c) => c.notNull().references('learner.id').onDelete('restrict'))
    .addColumn('linked_by', 'text', (c) => c.notNull().check(sql`linked_by in ('first_seen', 'presented_credential')`))
    .addColumn('linked_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('learner_account_pk', ['issuer', 'user_id'])
    .execute();
  await db.schema.createIndex('learner_account_learner_idx').on('learner_account').column('learner_id').execute();
  // Everyone awarded so far becomes a learner of their own.
  await sql`
    with accounts as (
      select distinct ctx.issuer, a.user_id, gen_random_uuid() as learner_id
      from award a join credential c on c.id = a.credential_id join lti_context ctx on ctx.id = c.context_ref
    ), learners as (insert into learner (id) select learner_id from accounts)
    insert into learner_account (issuer, user_id, learner_id, linked_by) select issuer, user_id, learner_id, 'first_seen' from accounts`.execute(db);

  // Issuers outside this tool whose credentials may be imported; their keys pinned unless did:key.
  await db.schema
    .createTable('accepted_issuer')
    .addColumn('did', 'text', (c) => c.primaryKey().check(sql`did ~ '^did:[a-z0-9]+:.+'`))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('credit_system', 'text', (c) => c.notNull().check(sql`credit_system in ('ects', 'creditHours')`))
    // [{ id, publicKeyMultibase }]: Ed25519 Multikeys by the verification method ids proofs name.
    .addColumn('keys', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'`))
    .addColumn('added_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('added_by', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('pathway')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('issuer_id', 'uuid', (c) => c.notNull().references('issuer_profile.id').onDelete('restrict'))
    .addColumn('current_revision', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('archived_at', 'timestamptz')
    .execute();
  await db.schema
    .createTable('pathway_revision')
    .addColumn('pathway_id', 'uuid', (c) => c.notNull().references('pathway.id').onDelete('restrict'))
    .addColumn('revision', 'integer', (c) => c.notNull())
    .addColumn('definition', 'jsonb', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('pathway_revision_pk', ['pathway_id', 'revision'])
    .execute();

  // A pathway's award is its signed credential: written whole, with the holdings it was decided on.
  await db.schema
    .createTable('pathway_credential')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('pathway_id', 'uuid', (c) => c.notNull())
    .addColumn('revision', 'integer', (c) => c.notNull())
    .addColumn('learner_id', 'uuid', (c) => c.notNull().references('learner.id').onDelete('restrict'))
    .addColumn('basis', 'jsonb', (c) => c.notNull())
    .addColumn('issuer_id', 'uuid', (c) => c.notNull().references('issuer_profile.id').onDelete('restrict'))
    .addColumn('key_id', 'text', (c) => c.notNull().references('issuer_key.id').onDelete('restrict'))
    .addColumn('status_list_id', 'bigint', (c) => c.notNull().references('status_list.id').onDelete('restrict'))
    .addColumn('status_index', 'integer', (c) => c.notNull())
    .addColumn('document', 'jsonb', (c) => c.notNull())
    .addColumn('holder_name', 'text')
    .addColumn('issued_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('revoked_at', 'timestamptz')
    .addColumn('revoked_by', 'text')
    .addColumn('revocation_reason', 'text')
    .addUniqueConstraint('pathway_credential_status_bit', ['status_list_id', 'status_index'])
    .addForeignKeyConstraint('pathway_credential_revision_fk', ['pathway_id', 'revision'], 'pathway_revision', ['pathway_id', 'revision'], (fk) => fk.onDelete('restrict'))
    .execute();
  // One live award of a pathway per learner, however many evaluations run at once.
  await db.schema.createIndex('pathway_credential_one_live').unique().on('pathway_credential').columns(['pathway_id', 'learner_id']).where(sql.ref('revoked_at'), 'is', null).execute();
  await db.schema.createIndex('pathway_credential_learner_idx').on('pathway_credential').column('learner_id').execute();

  // Verified credentials of other issuers, brought in by the learner or a registrar.
  await db.schema
    .createTable('imported_credential')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('learner_id', 'uuid', (c) => c.notNull().references('learner.id').onDelete('restrict'))
    .addColumn('issuer_did', 'text', (c) => c.notNull().references('accepted_issuer.did').onDelete('restrict'))
    .addColumn('achievement_id', 'text', (c) => c.notNull())
    .addColumn('achievement_name', 'text', (c) => c.notNull())
    .addColumn('credits', 'numeric', (c) => c.check(sql`credits >= 0`))
    .addColumn('valid_from', 'timestamptz', (c) => c.notNull())
    .addColumn('valid_until', 'timestamptz')
    .addColumn('status_checked', 'boolean', (c) => c.notNull())
    .addColumn('document', 'jsonb', (c) => c.notNull())
    // One credential counts for one person only.
    .addColumn('document_hash', 'text', (c) => c.notNull().unique())
    .addColumn('imported_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('imported_by', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('imported_credential_learner_idx').on('imported_credential').column('learner_id').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['imported_credential', 'pathway_credential', 'pathway_revision', 'pathway', 'accepted_issuer', 'learner_account', 'learner']) {
    await db.schema.dropTable(table).execute();
  }
}
