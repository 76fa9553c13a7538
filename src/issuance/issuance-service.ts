import { sql, type Selectable } from 'kysely';
import { randomBytes, randomUUID } from 'node:crypto';
import type { Definition } from '../credentials/definition-schema.js';
import type { CourseRef } from '../credentials/definitions.js';
import { recordAudit } from '../db/audit.js';
import type { Db } from '../db/database.js';
import type { Tables } from '../db/schema.js';
import { recordAccount, type LearnerAccount } from '../credentials/learners.js';
import { buildOpenBadgeCredential, extensionContext } from './credential.js';
import type { DocumentLoader } from '@digitalbazaar/vc';
import { offlineDocumentLoader } from './document-loader.js';
import type { IssuerService } from './issuers.js';
import { StatusLists, statusListIdOf } from './status-lists.js';
import { verifyPresentedCredential, type VerificationReport } from './verification.js';

/**
 * Turns awards into signed Open Badges 3.0 credentials, and revokes them. A learner holds at most
 * one credential per award (credential revision): concurrent claims in this process share one
 * signing, and across processes the unique constraint keeps the first.
 */

/** Ids are uuids; anything else is not found, without a query that would fail on the uuid column. */
const ISSUED_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export type IssuedRow = Selectable<Tables['issued_credential']>;

/** Why a claim or staff action cannot proceed; each maps to a clear answer. */
export class IssuanceRefusal extends Error {
  constructor(readonly reason: 'not_awarded' | 'award_revoked' | 'unknown_learner' | 'already_awarded' | 'already_revoked') {
    super(reason);
  }
}

export interface LearnerIdentity {
  name?: string | undefined;
  email?: string | undefined;
}

/** Signs an unsigned credential for an issuer: in this thread, or in a pool of worker threads. */
export type Signer = (issuerId: string, unsigned: Record<string, unknown>) => Promise<Record<string, unknown>>;

export class IssuanceService {
  readonly statusLists: StatusLists;
  readonly documentLoader: DocumentLoader;
  private readonly inFlight = new Map<string, Promise<IssuedRow>>();
  private readonly issuedListeners: Array<(account: LearnerAccount, identity: LearnerIdentity) => void> = [];
  private readonly extensionUrl: string;

  constructor(private readonly db: Db, private readonly issuers: IssuerService, private readonly publicUrl: string, readonly sign: Signer) {
    this.statusLists = new StatusLists(db, publicUrl);
    this.documentLoader = offlineDocumentLoader(issuers.ownDocuments);
    this.extensionUrl = extensionContext(publicUrl).url;
  }

  /** Called after each credential is issued, e.g. to award the pathways it completes. */
  onIssued(listener: (account: LearnerAccount, identity: LearnerIdentity) => void): void {
    this.issuedListeners.push(listener);
  }

  achievementUrl(credentialId: string, revision: number): string {
    return `${this.publicUrl}/achievements/${credentialId}/${revision}`;
  }

  /** The learner's latest live award of a credential in this course, or why there is none. */
  private async liveAward(course: CourseRef, credentialId: string, userId: string) {
    const awards = await this.db.selectFrom('award as a').innerJoin('credential as c', 'c.id', 'a.credential_id')
      .select(['a.credential_id', 'a.revision', 'a.user_id', 'a.revoked_at'])
      .where('c.context_ref', '=', course.contextRef).where('a.credential_id', '=', credentialId).where('a.user_id', '=', userId)
      .orderBy('a.revision', 'desc').execute();
    const live = awards.find((a) => a.revoked_at === null);
    if (!live) throw new IssuanceRefusal(awards.length ? 'award_revoked' : 'not_awarded');
    return live;
  }

  /** The learner's credentials in a course, newest revision first. */
  async held(course: CourseRef, userId: string): Promise<IssuedRow[]> {
    return this.db.selectFrom('issued_credential as i').innerJoin('credential as c', 'c.id', 'i.credential_id').selectAll('i')
      .where('c.context_ref', '=', course.contextRef).where('i.user_id', '=', userId).orderBy('i.revision', 'desc').execute();
  }

  /** An issued credential of one of this course's credentials. */
  async inCourse(course: CourseRef, id: string): Promise<IssuedRow | undefined> {
    if (!ISSUED_ID.test(id)) return undefined;
    return this.db.selectFrom('issued_credential as i').innerJoin('credential as c', 'c.id', 'i.credential_id').selectAll('i')
      .where('i.id', '=', id).where('c.context_ref', '=', course.contextRef).executeTakeFirst();
  }

  async byId(id: string): Promise<IssuedRow | undefined> {
    if (!ISSUED_ID.test(id)) return undefined;
    return this.db.selectFrom('issued_credential').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Claims the learner's award: the existing credential, or a newly signed one. */
  async claim(course: CourseRef, credentialId: string, userId: string, identity: LearnerIdentity): Promise<{ issued: IssuedRow; created: boolean }> {
    const award = await this.liveAward(course, credentialId, userId);
    const existing = await this.issuedFor(award.credential_id, award.revision, userId);
    if (existing) return { issued: existing, created: false };
    const key = `${award.credential_id}/${award.revision}/${userId}`;
    let pending = this.inFlight.get(key);
    if (pending) return { issued: await pending, created: false };
    pending = this.issue(course, award.credential_id, award.revision, userId, identity);
    this.inFlight.set(key, pending);
    try {
      const issued = await pending;
      return { issued, created: true };
    } finally {
      this.inFlight.delete(key);
    }
  }

  private issuedFor(credentialId: string, revision: number, userId: string): Promise<IssuedRow | undefined> {
    return this.db.selectFrom('issued_credential').selectAll()
      .where('credential_id', '=', credentialId).where('revision', '=', revision).where('user_id', '=', userId).executeTakeFirst();
  }

  private async issue(course: CourseRef, credentialId: string, revision: number, userId: string, identity: LearnerIdentity): Promise<IssuedRow> {
    const revisionRow = await this.db.selectFrom('credential_revision').select('definition').where('credential_id', '=', credentialId).where('revision', '=', revision).executeTakeFirstOrThrow();
    const definition = revisionRow.definition as unknown as Definition;
    const context = await this.db.selectFrom('lti_context').select(['title', 'context_id', 'first_seen_at']).where('id', '=', course.contextRef).executeTakeFirstOrThrow();
    const member = await this.db.selectFrom('learner_gradebook').select('member').where('context_ref', '=', course.contextRef).where('user_id', '=', userId).executeTakeFirst();
    const email = identity.email ?? (member?.member?.email as string | undefined);
    const holderName = identity.name ?? (member?.member?.name as string | undefined) ?? null;
    const issuerRow = await this.issuers.defaultIssuer();
    const account = { issuer: course.issuer, userId };
    const status = await this.statusLists.allocate(issuerRow.id);
    const id = randomUUID();
    const now = new Date();
    const validUntil = definition.validForMonths ? new Date(now) : undefined;
    validUntil?.setUTCMonth(validUntil.getUTCMonth() + definition.validForMonths!);
    const unsigned = buildOpenBadgeCredential({
      id: `urn:uuid:${id}`,
      achievementId: this.achievementUrl(credentialId, revision),
      definition,
      issuer: this.issuers.profileOf(issuerRow),
      learner: { userId, platformIssuer: course.issuer, ...(email ? { email } : {}) },
      salt: randomBytes(12).toString('base64url'),
      course: { title: context.title ?? context.context_id },
      activity: { startDate: context.first_seen_at.toISOString(), endDate: now.toISOString() },
      validFrom: now.toISOString(),
      ...(validUntil ? { validUntil: validUntil.toISOString() } : {}),
      extensionContextUrl: this.extensionUrl,
      credentialStatus: status.entry,
    });
    const signed = await this.sign(issuerRow.id, unsigned);
    const keyId = ((signed.proof as Array<{ verificationMethod: string }>)[0]!).verificationMethod;
    const inserted = await this.db.transaction().execute(async (trx) => {
      const row = await trx.insertInto('issued_credential').values({
        id, credential_id: credentialId, revision, user_id: userId, issuer_id: issuerRow.id, key_id: keyId,
        status_list_id: status.listId, status_index: status.index, document: JSON.stringify(signed), holder_name: holderName,
        revoked_at: null, revoked_by: null, revocation_reason: null,
      }).onConflict((oc) => oc.constraint('issued_credential_one_per_award').doNothing()).returningAll().executeTakeFirst();
      if (row) {
        // The learner's record spans courses and platforms: an account belongs to a learner from its first credential.
        await recordAccount(trx, account);
        await recordAudit(trx, userId, 'credential.issued', `urn:uuid:${id}`, { credentialId, revision, userId, statusList: status.listId, statusIndex: status.index });
      }
      return row;
    });
    if (inserted) for (const listener of this.issuedListeners) listener(account, { name: holderName ?? undefined, email });
    // Another instance issued it first: theirs stands, and this signing's status bit stays unused.
    return inserted ?? (await this.issuedFor(credentialId, revision, userId))!;
  }

  /** A staff award of the credential's current revision to a learner of the course, with a note. */
  async awardManually(course: CourseRef, credentialId: string, userId: string, actor: string, note: string): Promise<{ revision: number }> {
    const credential = await this.db.selectFrom('credential').select('current_revision').where('id', '=', credentialId).where('context_ref', '=', course.contextRef).executeTakeFirstOrThrow();
    const learner = await this.db.selectFrom('learner_gradebook').select('user_id').where('context_ref', '=', course.contextRef).where('user_id', '=', userId).executeTakeFirst();
    if (!learner) throw new IssuanceRefusal('unknown_learner');
    return this.db.transaction().execute(async (trx) => {
      const row = await trx.insertInto('award').values({
        credential_id: credentialId, revision: credential.current_revision, user_id: userId, decision_id: null, awarded_by: actor, note, written_back_at: null, revoked_at: null,
      }).onConflict((oc) => oc.columns(['credential_id', 'revision', 'user_id']).doNothing()).returning('revision').executeTakeFirst();
      if (!row) throw new IssuanceRefusal('already_awarded');
      await recordAudit(trx, actor, 'award.manual', `${credentialId}/${userId}`, { revision: row.revision, note });
      return { revision: row.revision };
    });
  }

  /**
   * Revokes a learner's award of a credential and the credential issued for it, if any: its bit is
   * set in the published status list, and the reason is kept in the audit log.
   */
  async revoke(course: CourseRef, credentialId: string, userId: string, actor: string, reason: string): Promise<{ revokedCredential: string | null }> {
    return this.db.transaction().execute(async (trx) => {
      const awards = await trx.updateTable('award').set({ revoked_at: new Date() })
        .where('credential_id', '=', credentialId).where('user_id', '=', userId).where('revoked_at', 'is', null)
        .where(sql<boolean>`exists (select 1 from credential c where c.id = award.credential_id and c.context_ref = ${course.contextRef})`)
        .returning('revision').execute();
      const issued = await trx.updateTable('issued_credential').set({ revoked_at: new Date(), revoked_by: actor, revocation_reason: reason })
        .where('credential_id', '=', credentialId).where('user_id', '=', userId).where('revoked_at', 'is', null)
        .where(sql<boolean>`exists (select 1 from credential c where c.id = issued_credential.credential_id and c.context_ref = ${course.contextRef})`)
        .returning(['id', 'status_list_id']).execute();
      if (awards.length === 0 && issued.length === 0) {
        const any = await trx.selectFrom('award as a').innerJoin('credential as c', 'c.id', 'a.credential_id').select('a.user_id')
          .where('c.context_ref', '=', course.contextRef).where('a.credential_id', '=', credentialId).where('a.user_id', '=', userId).executeTakeFirst();
        throw new IssuanceRefusal(any ? 'already_revoked' : 'not_awarded');
      }
      for (const listId of new Set(issued.map((i) => i.status_list_id))) {
        await trx.updateTable('status_list').set((eb) => ({ version: eb('version', '+', 1) })).where('id', '=', listId).execute();
      }
      await recordAudit(trx, actor, 'credential.revoked', `${credentialId}/${userId}`, { reason, revisions: awards.map((a) => a.revision), credentials: issued.map((i) => `urn:uuid:${i.id}`) });
      return { revokedCredential: issued[0] ? issued[0].id : null };
    });
  }

  async setShared(issuedId: string, enabled: boolean, actor: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.updateTable('issued_credential').set({ share_enabled: enabled }).where('id', '=', issuedId).execute();
      await recordAudit(trx, actor, enabled ? 'credential.share_enabled' : 'credential.share_disabled', `urn:uuid:${issuedId}`, {});
    });
  }

  /** A presented credential checked as /verify checks it: offline, our issuers' keys and status lists only. */
  verify(credential: unknown): Promise<VerificationReport> {
    return verifyPresentedCredential(credential, {
      documentLoader: this.documentLoader,
      ownContexts: new Set([this.extensionUrl]),
      canResolveIssuer: (did) => this.issuers.isOwnIssuer(did),
      statusOf: async (listUrl, index) => {
        const listId = statusListIdOf(this.publicUrl, listUrl);
        return listId === undefined ? undefined : this.statusLists.isRevoked(listId, index);
      },
    });
  }

  /** The published, signed status list; undefined for an unknown id. */
  publishedStatusList(listId: string): Promise<Record<string, unknown> | undefined> {
    return this.statusLists.published(listId, this.sign, async (issuerId) => this.issuers.profileOf(await this.issuers.byId(issuerId)).id);
  }
}
