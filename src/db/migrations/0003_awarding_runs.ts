import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // A decision is recorded when the verdict or its evidence changes, not on every identical run.
  await db.schema.alterTable('award_decision').addColumn('evidence_hash', 'text', (c) => c.notNull().defaultTo('')).execute();
  // The gradebook column a credential writes its awards to, once created on the platform.
  await db.schema.alterTable('credential').addColumn('write_back_line_item_url', 'text').execute();

  await db.schema
    .createTable('staff_approval')
    .addColumn('credential_id', 'uuid', (c) => c.notNull().references('credential.id').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('approved_by', 'text', (c) => c.notNull())
    .addColumn('approved_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('note', 'text')
    .addPrimaryKeyConstraint('staff_approval_pk', ['credential_id', 'user_id'])
    .execute();

  // What the last read of a course's gradebook did, so pages can say when the next try is.
  await db.schema
    .createTable('course_sync')
    .addColumn('context_ref', 'bigint', (c) => c.primaryKey().references('lti_context.id').onDelete('cascade'))
    .addColumn('last_attempt_at', 'timestamptz', (c) => c.notNull())
    .addColumn('last_success_at', 'timestamptz')
    .addColumn('last_error', 'text')
    .addColumn('next_attempt_at', 'timestamptz')
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('course_sync').execute();
  await db.schema.dropTable('staff_approval').execute();
  await db.schema.alterTable('credential').dropColumn('write_back_line_item_url').execute();
  await db.schema.alterTable('award_decision').dropColumn('evidence_hash').execute();
}
