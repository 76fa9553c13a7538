import { sql, type Kysely } from 'kysely';

/**
 * Evidence is stored once and referenced. A decision keeps its verdict, its progress and what it
 * was made on: the course's columns (gradebook_columns) and the learner's results (learner_results),
 * each stored once per distinct content and course. Its explanation is a pure function of these
 * and the revision's criteria, so it is rebuilt when shown rather than stored per learner.
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
  await db.schema
    .createTable('learner_results')
    .addColumn('context_ref', 'bigint', (c) => c.notNull().references('lti_context.id').onDelete('cascade'))
    .addColumn('results_hash', 'text', (c) => c.notNull())
    // json, not jsonb: stored and read back whole, never queried inside; it is written much faster.
    .addColumn('results', 'json', (c) => c.notNull())
    .addColumn('first_seen_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('learner_results_pk', ['context_ref', 'results_hash'])
    .execute();

  // Results were a record keyed by line item; they are kept as the list of its values, each naming
  // its line item. Content hashes of rows written before this migration are md5 of the record's
  // jsonb text, marked "v0:" so they never meet the tool's own (sha256 of the JSON it stores).
  await sql`
    create function pg_temp.result_list(record jsonb) returns jsonb language sql immutable
    as $$ select coalesce(jsonb_agg(value), '[]'::jsonb) from jsonb_each(record) $$`.execute(db);
  // (The function's jsonb is cast to the column's json on insert.)
  await sql`
    insert into learner_results (context_ref, results_hash, results)
    select context_ref, hash, list::json from (
      select distinct context_ref, 'v0:' || md5(results::text) as hash, pg_temp.result_list(results) as list from learner_gradebook) s
    on conflict do nothing`.execute(db);
  await db.schema.alterTable('learner_gradebook').addColumn('results_hash', 'text').execute();
  await sql`update learner_gradebook set results_hash = 'v0:' || md5(results::text)`.execute(db);
  await db.schema.alterTable('learner_gradebook').alterColumn('results_hash', (c) => c.setNotNull()).execute();
  await db.schema.alterTable('learner_gradebook').dropColumn('results').execute();

  await db.schema.alterTable('award_decision')
    .addColumn('columns_id', 'bigint', (c) => c.references('gradebook_columns.id'))
    .addColumn('results_hash', 'text')
    .addColumn('progress', 'double precision', (c) => c.notNull().defaultTo(0))
    .execute();
  // Earlier decisions kept the columns they had results in, with id, label and scoreMaximum only.
  // Their other attributes (tag, resourceId, ...) come from the course's last read columns, so that
  // rebuilt explanations select as the original did as far as can be known. The verdict and
  // progress recorded with each decision stay as they were decided.
  await sql`
    create temporary table legacy_evidence as
    select d.id as decision_id, c.context_ref, d.evidence -> 'results' as results,
      coalesce((select jsonb_agg(coalesce(
          (select known from jsonb_array_elements(coalesce(g.line_items, '[]'::jsonb)) known where known ->> 'id' = used ->> 'id' limit 1),
          used) order by n)
        from jsonb_array_elements(coalesce(d.evidence -> 'lineItems', '[]'::jsonb)) with ordinality as e(used, n)), '[]'::jsonb) as line_items
    from award_decision d
    join credential c on c.id = d.credential_id
    left join course_gradebook g on g.context_ref = c.context_ref`.execute(db);
  await sql`
    insert into gradebook_columns (context_ref, columns_hash, line_items)
    select distinct context_ref, 'v0:' || md5(line_items::text), line_items from legacy_evidence
    on conflict do nothing`.execute(db);
  await sql`
    insert into learner_results (context_ref, results_hash, results)
    select context_ref, hash, list::json from (
      select distinct context_ref, 'v0:' || md5(results::text) as hash, pg_temp.result_list(results) as list from legacy_evidence) s
    on conflict do nothing`.execute(db);
  await sql`
    update award_decision d set
      columns_id = g.id,
      results_hash = 'v0:' || md5(l.results::text),
      progress = coalesce((d.evaluation #>> '{progress,progress}')::double precision, 0),
      evidence = d.evidence - 'lineItems' - 'results'
    from legacy_evidence l, gradebook_columns g
    where l.decision_id = d.id and g.context_ref = l.context_ref and g.columns_hash = 'v0:' || md5(l.line_items::text)`.execute(db);
  await sql`drop table legacy_evidence`.execute(db);
  await sql`drop function pg_temp.result_list(jsonb)`.execute(db);
  await db.schema.alterTable('award_decision').alterColumn('columns_id', (c) => c.setNotNull()).execute();
  await db.schema.alterTable('award_decision').alterColumn('results_hash', (c) => c.setNotNull()).execute();
  await db.schema.alterTable('award_decision').dropColumn('evaluation').execute();
}

/** Back to 0003's shape: evidence inline again; explanations are not restored (an empty object). */
export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('award_decision').addColumn('evaluation', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`)).execute();
  await sql`
    update award_decision d set evidence = d.evidence || jsonb_build_object('lineItems', g.line_items,
      'results', (select coalesce(jsonb_object_agg(x ->> 'lineItemId', x), '{}'::jsonb) from jsonb_array_elements(r.results::jsonb) x))
    from credential c, gradebook_columns g, learner_results r
    where c.id = d.credential_id and g.id = d.columns_id and r.context_ref = c.context_ref and r.results_hash = d.results_hash`.execute(db);
  await db.schema.alterTable('award_decision').dropColumn('columns_id').dropColumn('results_hash').dropColumn('progress').execute();
  await db.schema.alterTable('learner_gradebook').addColumn('results', 'jsonb').execute();
  await sql`
    update learner_gradebook g set results = (select coalesce(jsonb_object_agg(x ->> 'lineItemId', x), '{}'::jsonb) from jsonb_array_elements(r.results::jsonb) x)
    from learner_results r where r.context_ref = g.context_ref and r.results_hash = g.results_hash`.execute(db);
  await db.schema.alterTable('learner_gradebook').alterColumn('results', (c) => c.setNotNull()).dropColumn('results_hash').execute();
  await db.schema.dropTable('learner_results').execute();
  await db.schema.dropTable('gradebook_columns').execute();
}
