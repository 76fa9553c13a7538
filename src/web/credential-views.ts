import { describeTree, type DescribedCriterion } from '../criteria/describe.js';
import type { Evaluation } from '../criteria/index.js';
import type { RunOutcome } from '../credentials/awarding.js';
import type { Definition } from '../credentials/definition-schema.js';
import { credentialCounts, type CredentialCounts } from '../credentials/course-dashboard.js';
import { explainDecisions, latestDecisions } from '../credentials/explanations.js';
import type { Db } from '../db/database.js';
import type { Language } from './i18n.js';

export interface LearnerCredentialView {
  id: string;
  name: string;
  description: string;
  qualified: boolean;
  awarded: boolean;
  /** The learner's signed credential, once claimed. */
  issuedId: string | null;
  revokedAt: Date | null;
  percent: number;
  /** Each criterion with its progress and reason, root first. */
  criteria: DescribedCriterion | null;
}

export interface GradebookNotice {
  /** The LMS could not be read just now; what is shown comes from the last successful read. */
  unreachable: boolean;
  nextAttemptAt: Date | null;
  fetchedAt: Date | null;
}

/** A learner's credentials in a course: the fresh run's verdicts, or the last recorded ones when the LMS failed. */
export async function learnerCredentials(db: Db, contextRef: string, userId: string, outcome: RunOutcome, lang: Language): Promise<{ credentials: LearnerCredentialView[]; notice: GradebookNotice }> {
  const credentials = await db.selectFrom('credential as c')
    .innerJoin('credential_revision as r', (j) => j.onRef('r.credential_id', '=', 'c.id').onRef('r.revision', '=', 'c.current_revision'))
    .select((eb) => [
      'c.id', 'r.definition',
      eb.exists(eb.selectFrom('award as a').select('a.user_id').whereRef('a.credential_id', '=', 'c.id').where('a.user_id', '=', userId).where('a.revoked_at', 'is', null)).as('awarded'),
      eb.selectFrom('issued_credential as i').select('i.id').whereRef('i.credential_id', '=', 'c.id').where('i.user_id', '=', userId).orderBy('i.revision', 'desc').limit(1).as('issued_id'),
      eb.selectFrom('issued_credential as i').select('i.revoked_at').whereRef('i.credential_id', '=', 'c.id').where('i.user_id', '=', userId).orderBy('i.revision', 'desc').limit(1).as('revoked_at'),
    ])
    .where('c.context_ref', '=', contextRef).orderBy('c.created_at').execute();
  const notice = async (): Promise<GradebookNotice> => {
    const last = await db.selectFrom('learner_gradebook').select('fetched_at').where('context_ref', '=', contextRef).where('user_id', '=', userId).executeTakeFirst();
    return { unreachable: !outcome.ok, nextAttemptAt: outcome.ok ? null : outcome.nextAttemptAt, fetchedAt: last?.fetched_at ?? null };
  };
  if (credentials.length === 0) return { credentials: [], notice: await notice() };
  const fresh = new Map(outcome.ok ? outcome.standings.filter((s) => s.userId === userId).map((s) => [s.credentialId, s.evaluation]) : []);
  const recorded = new Map<string, Evaluation>();
  if (fresh.size === 0) {
    const decisions = await latestDecisions(db, credentials.map((c) => c.id), userId);
    (await explainDecisions(db, contextRef, decisions)).forEach((evaluation, i) => recorded.set(decisions[i]!.credential_id, evaluation));
  }
  return {
    credentials: credentials.map((c) => {
      const definition = c.definition as unknown as Definition;
      const evaluation = fresh.get(c.id) ?? recorded.get(c.id);
      return {
        id: c.id,
        name: definition.name,
        description: definition.description,
        qualified: evaluation?.qualified ?? false,
        awarded: Boolean(c.awarded),
        issuedId: c.issued_id ?? null,
        revokedAt: c.revoked_at ?? null,
        percent: Math.floor((evaluation?.progress.progress ?? 0) * 100),
        criteria: evaluation ? describeTree(evaluation.progress, lang) : null,
      };
    }),
    notice: await notice(),
  };
}

/** The course dashboard: each credential with its counts, and the state of the course's gradebook reads. */
export async function staffCredentials(db: Db, contextRef: string): Promise<{ credentials: CredentialCounts[]; sync: { lastSuccessAt: Date | null; lastError: string | null; nextAttemptAt: Date | null } | null }> {
  const credentials = await credentialCounts(db, contextRef);
  const sync = await db.selectFrom('course_sync').selectAll().where('context_ref', '=', contextRef).executeTakeFirst();
  return {
    credentials,
    sync: sync ? { lastSuccessAt: sync.last_success_at, lastError: sync.last_error, nextAttemptAt: sync.next_attempt_at } : null,
  };
}
