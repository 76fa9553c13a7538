import type { Kysely } from 'kysely';
import type { Tables } from '../db/schema.js';

/** An LMS account: LTI `sub` values are unique only within their platform (OIDC Core §2). */
export interface LearnerAccount {
  issuer: string;
  userId: string;
}

class AccountTaken extends Error {}

/** The learner an account belongs to; an account seen for the first time becomes a learner of its own. */
export async function ensureLearner(db: Kysely<Tables>, account: LearnerAccount): Promise<string> {
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const existing = await db.selectFrom('learner_account').select('learner_id').where('issuer', '=', account.issuer).where('user_id', '=', account.userId).executeTakeFirst();
    if (existing) return existing.learner_id;
    try {
      return await db.transaction().execute(async (trx) => {
        const { id } = await trx.insertInto('learner').defaultValues().returning('id').executeTakeFirstOrThrow();
        const inserted = await trx.insertInto('learner_account').values({ issuer: account.issuer, user_id: account.userId, learner_id: id, linked_by: 'first_seen' })
          .onConflict((oc) => oc.columns(['issuer', 'user_id']).doNothing()).returning('learner_id').executeTakeFirst();
        // Another request made it meanwhile: undo this learner and read theirs.
        if (!inserted) throw new AccountTaken();
        return id;
      });
    } catch (err) {
      if (!(err instanceof AccountTaken)) throw err;
    }
  }
  throw new Error(`could not record the learner account ${account.userId} of ${account.issuer}`);
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
