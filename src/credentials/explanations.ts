import { compileCriteria, type CompiledCriteria, type Criteria, type Evaluation } from '../criteria/index.js';
import type { Db } from '../db/database.js';
import type { DecisionEvidence } from '../db/schema.js';
import type { GradebookLineItem, GradebookResult } from '../gradebook/types.js';

/** A recorded decision, as much of it as rebuilding its explanation needs. */
export interface RecordedDecision {
  credential_id: string;
  revision: number;
  user_id: string;
  columns_id: string;
  results_hash: string;
  evidence: DecisionEvidence;
  decided_at: Date;
}

/** The decision in force for each (credential, learner): the latest. `userId` narrows to one learner. */
export async function latestDecisions(db: Db, credentialIds: string[], userId?: string) {
  if (credentialIds.length === 0) return [];
  let query = db.selectFrom('award_decision')
    .distinctOn(['credential_id', 'user_id'])
    .select(['id', 'credential_id', 'revision', 'user_id', 'qualified', 'progress', 'columns_id', 'results_hash', 'evidence', 'decided_at'])
    .where('credential_id', 'in', credentialIds);
  if (userId !== undefined) query = query.where('user_id', '=', userId);
  return query.orderBy('credential_id').orderBy('user_id').orderBy('decided_at', 'desc').orderBy('id', 'desc').execute();
}

/**
 * The explanations of a course's recorded decisions. Evaluation is a pure function of the
 * revision's criteria and the evidence, so this gives exactly what was decided, without a stored
 * tree per learner.
 */
export async function explainDecisions(db: Db, contextRef: string, decisions: RecordedDecision[]): Promise<Evaluation[]> {
  if (decisions.length === 0) return [];
  const wanted = [...new Map(decisions.map((d) => [`${d.credential_id}\n${d.revision}`, d])).values()];
  const revisions = await db.selectFrom('credential_revision').select(['credential_id', 'revision', 'criteria'])
    .where((eb) => eb.or(wanted.map((d) => eb.and([eb('credential_id', '=', d.credential_id), eb('revision', '=', d.revision)]))))
    .execute();
  const compiled = new Map<string, CompiledCriteria>(revisions.map((r) => [`${r.credential_id}\n${r.revision}`, compileCriteria(r.criteria as Criteria)]));
  const columns = new Map<string, GradebookLineItem[]>((await db.selectFrom('gradebook_columns').select(['id', 'line_items'])
    .where('context_ref', '=', contextRef).where('id', 'in', [...new Set(decisions.map((d) => d.columns_id))]).execute())
    .map((c) => [c.id, c.line_items]));
  const results = new Map<string, Record<string, GradebookResult>>((await db.selectFrom('learner_results').select(['results_hash', 'results'])
    .where('context_ref', '=', contextRef).where('results_hash', 'in', [...new Set(decisions.map((d) => d.results_hash))]).execute())
    .map((r) => [r.results_hash, Object.fromEntries(r.results.map((result) => [result.lineItemId, result]))]));
  return decisions.map((d) => {
    const criteria = compiled.get(`${d.credential_id}\n${d.revision}`);
    const lineItems = columns.get(d.columns_id);
    const learnerResults = results.get(d.results_hash);
    if (!criteria || !lineItems || !learnerResults) throw new Error(`the evidence of a decision of ${d.credential_id} is not in course ${contextRef}`);
    return criteria.evaluate(d.credential_id, { userId: d.user_id, lineItems, results: learnerResults, ...d.evidence }, d.decided_at);
  });
}
