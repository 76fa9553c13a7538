import { sql, type Kysely } from 'kysely';
import { createHash } from 'node:crypto';
import type { Tables } from '../db/schema.js';

/** An LMS account: LTI `sub` values are unique only within their platform (OIDC Core §2). */
export interface LearnerAccount {
  issuer: string;
  userId: string;
}

/**
 * The id an account's own learner gets when the account is first seen: derived from the account,
 * so that concurrent first sightings agree on it and no learner is made twice.
 */
function firstLearnerId(account: LearnerAccount): string {
  const h = createHash('sha256').update(`${account.issuer}\n${account.userId}`, 'utf8').digest('hex');
  // A UUID of version 8 (custom), RFC 9562 §5.8.
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * Records an account the first time it is seen, as a learner of its own; an account known already
 * (maybe linked to another learner since) is left as it is. One statement: it runs inside the
 * transaction that issues a credential.
 */
export async function recordAccount(db: Kysely<Tables>, account: LearnerAccount): Promise<void> {
  const id = firstLearnerId(account);
  const unknown = sql<boolean>`not exists (select 1 from learner_account where issuer = ${account.issuer} and user_id = ${account.userId})`;
  await sql`
    with new_learner as (insert into learner (id) select ${id}::uuid where ${unknown} on conflict (id) do nothing)
    insert into learner_account (issuer, user_id, learner_id, linked_by)
    select ${account.issuer}, ${account.userId}, ${id}::uuid, 'first_seen' where ${unknown}
    on conflict (issuer, user_id) do nothing`.execute(db);
}

/** The learner an account belongs to; an account seen for the first time becomes a learner of its own. */
export async function ensureLearner(db: Kysely<Tables>, account: LearnerAccount): Promise<string> {
  const find = () => db.selectFrom('learner_account').select('learner_id').where('issuer', '=', account.issuer).where('user_id', '=', account.userId).executeTakeFirst();
  const known = await find();
  if (known) return known.learner_id;
  await recordAccount(db, account);
  return (await find())!.learner_id;
}

export async function accountsOf(db: Kysely<Tables>, learnerId: string): Promise<LearnerAccount[]> {
  return (await accountsByLearner(db, [learnerId])).get(learnerId) ?? [];
}

export async function accountsByLearner(db: Kysely<Tables>, learnerIds: readonly string[]): Promise<Map<string, LearnerAccount[]>> {
  const byLearner = new Map<string, LearnerAccount[]>();
  if (learnerIds.length === 0) return byLearner;
  const rows = await db.selectFrom('learner_account').select(['learner_id', 'issuer', 'user_id']).where('learner_id', 'in', learnerIds).orderBy('linked_at').execute();
  for (const r of rows) byLearner.set(r.learner_id, [...(byLearner.get(r.learner_id) ?? []), { issuer: r.issuer, userId: r.user_id }]);
  return byLearner;
}
