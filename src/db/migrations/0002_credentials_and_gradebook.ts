import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // Where the course's gradebook and roster live, from the launch claims; background syncs need them.
  await db.schema.alterTable('lti_context')
    .addColumn('ags_lineitems_url', 'text')
    .addColumn('ags_scopes', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'::text[]`))
    .addColumn('nrps_memberships_url', 'text')
    .execute();

  await db.schema
    .createTable('credential')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('context_ref', 'bigint', (c) => c.notNull().references('lti_context.id').onDelete('restrict'))
    .addColumn('current_revision', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('copied_from', 'uuid', (c) => c.references('credential.id').onDelete('set null'))
    .execute();
  await db.schema.createIndex('credential_context_idx').on('credential').column('context_ref').execute();

  // A revision is immutable once anything was awarded under it; editing then adds a revision.
  await db.schema
    .createTable('credential_revision')
    .addColumn('credential_id', 'uuid', (c) => c.notNull().references('credential.id').onDelete('cascade'))
    .addColumn('revision', 'integer', (c) => c.notNull().check(sql`revision >= 1`))
    .addColumn('definition', 'jsonb', (c) => c.notNull())
    .addColumn('criteria', 'jsonb', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('credential_revision_pk', ['credential_id', 'revision'])
    .execute();

  // The gradebook as last read, so pages do not call the LMS on every view.
  await db.schema
    .createTable('course_gradebook')
    .addColumn('context_ref', 'bigint', (c) => c.primaryKey().references('lti_context.id').onDelete('cascade'))
    .addColumn('fetched_at', 'timestamptz', (c) => c.notNull())
    .addColumn('line_items', 'jsonb', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('learner_gradebook')
    .addColumn('context_ref', 'bigint', (c) => c.notNull().references('lti_context.id').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('fetched_at', 'timestamptz', (c) => c.notNull())
    .addColumn('results', 'jsonb', (c) => c.notNull())
    .addColumn('member', 'jsonb')
    .addPrimaryKeyConstraint('learner_gradebook_pk', ['context_ref', 'user_id'])
    .execute();

  // Every evaluation run that changed or confirmed a verdict, with the snapshot it was decided on.
  await db.schema
    .createTable('award_decision')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('credential_id', 'uuid', (c) => c.notNull())
    .addColumn('revision', 'integer', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('qualified', 'boolean', (c) => c.notNull())
    .addColumn('evaluation', 'jsonb', (c) => c.notNull())
    .addColumn('evidence', 'jsonb', (c) => c.notNull())
    .addColumn('trigger', 'text', (c) => c.notNull().check(sql`trigger in ('launch', 'course_sync', 'scheduled')`))
    .addColumn('decided_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addForeignKeyConstraint('award_decision_revision_fk', ['credential_id', 'revision'], 'credential_revision', ['credential_id', 'revision'], (fk) => fk.onDelete('cascade'))
    .execute();
  await db.schema.createIndex('award_decision_learner_idx').on('award_decision').columns(['credential_id', 'user_id', 'decided_at']).execute();

  // One award per learner per revision; issuance turns it into a signed credential.
  await db.schema
    .createTable('award')
    .addColumn('credential_id', 'uuid', (c) => c.notNull())
    .addColumn('revision', 'integer', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('decision_id', 'bigint', (c) => c.notNull().references('award_decision.id'))
    .addColumn('awarded_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('written_back_at', 'timestamptz')
    .addPrimaryKeyConstraint('award_pk', ['credential_id', 'revision', 'user_id'])
    .addForeignKeyConstraint('award_revision_fk', ['credential_id', 'revision'], 'credential_revision', ['credential_id', 'revision'], (fk) => fk.onDelete('restrict'))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['award', 'award_decision', 'learner_gradebook', 'course_gradebook', 'credential_revision', 'credential']) {
    await db.schema.dropTable(table).execute();
  }
  await db.schema.alterTable('lti_context').dropColumn('ags_lineitems_url').dropColumn('ags_scopes').dropColumn('nrps_memberships_url').execute();
}
