import { sql, type Kysely } from 'kysely';

/**
 * A decision keeps its verdict and its evidence, not the explanation: the explanation is a pure
 * function of the revision's criteria and the evidence, so it is rebuilt when shown. The course's
 * columns are stored once per distinct set (gradebook_columns), not once per learner.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('gradebook_columns')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('context_ref', 'bigint', (c) => c.notNull().references('lti_context.id').onDelete('cascade'))
    .addColumn('columns_hash', 'text', (c) => c.notNull())
    .addColumn('line_items', 'jsonb', (c) => c.notNull())
    .addColumn('first_seen_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('gradebook_columns_hash_uq', ['context_ref', 'columns_hash'])
    .execute();
  await db.schema.alterTable('award_decision')
    .addColumn('columns_id', 'bigint', (c) => c.references('gradebook_columns.id'))
    .addColumn('progress', 'double precision', (c) => c.notNull().defaultTo(0))
    .execute();

  // Earlier decisions kept the columns they had results in, with id, label and scoreMaximum only.
  // Their other attributes (tag, resourceId, ...) come from the course's last read columns, so that
  // rebuilt explanations select as the original did as far as can be known. The verdict and
  // progress recorded with each decision stay as they were decided.
  await sql`
    create temporary table legacy_columns as
    select d.id as decision_id, c.context_ref,
      coalesce((select jsonb_agg(coalesce(
          (select known from jsonb_array_elements(coalesce(g.line_items, '[]'::jsonb)) known where known ->> 'id' = used ->> 'id' limit 1),
          used) order by n)
        from jsonb_array_elements(coalesce(d.evidence -> 'lineItems', '[]'::jsonb)) with ordinality as e(used, n)), '[]'::jsonb) as line_items
    from award_decision d
    join credential c on c.id = d.credential_id
    left join course_gradebook g on g.context_ref = c.context_ref`.execute(db);
  await sql`
    insert into gradebook_columns (context_ref, columns_hash, line_items)
    select distinct context_ref, 'v0:' || md5(line_items::text), line_items from legacy_columns
    on conflict do nothing`.execute(db);
  await sql`
    update award_decision d set
      columns_id = g.id,
      progress = coalesce((d.evaluation #>> '{progress,progress}')::double precision, 0),
      evidence = d.evidence - 'lineItems'
    from legacy_columns l, gradebook_columns g
    where l.decision_id = d.id and g.context_ref = l.context_ref and g.columns_hash = 'v0:' || md5(l.line_items::text)`.execute(db);
  await sql`drop table legacy_columns`.execute(db);
  await db.schema.alterTable('award_decision').alterColumn('columns_id', (c) => c.setNotNull()).execute();
  await db.schema.alterTable('award_decision').dropColumn('evaluation').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('award_decision').addColumn('evaluation', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`)).execute();
  await sql`
    update award_decision d set evidence = d.evidence || jsonb_build_object('lineItems', g.line_items)
    from gradebook_columns g where g.id = d.columns_id`.execute(db);
  await db.schema.alterTable('award_decision').dropColumn('columns_id').dropColumn('progress').execute();
  await db.schema.dropTable('gradebook_columns').execute();
}
