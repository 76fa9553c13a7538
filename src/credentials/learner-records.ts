import { sql } from 'kysely';
import { randomBytes, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { recordAudit } from '../db/audit.js';
import type { Db } from '../db/database.js';
import { CREDIT_SYSTEMS, sumCredits, type Credits, type CreditSystem } from '../criteria/credits.js';
import { evaluatePathway, refKey, type CredentialRef, type HeldCredential, type PathwayProgress } from '../criteria/pathway.js';
import { buildClrCredential, type ClrAssociation } from '../issuance/clr.js';
import { buildPathwayCredential, extensionContext, identityHash, learnerIdentifiers, type IssuerProfile } from '../issuance/credential.js';
import { checkExternalCredential, externalIssuerDocuments } from '../issuance/external-credentials.js';
import { offlineDocumentLoader } from '../issuance/document-loader.js';
import type { IssuanceService } from '../issuance/issuance-service.js';
import type { IssuerService } from '../issuance/issuers.js';
import { MAX_PROOF_CHECK_BYTES } from '../issuance/verification.js';
import { definitionCredits, type Definition } from './definition-schema.js';
import { accountsOf, ensureLearner, type LearnerAccount } from './learners.js';
import type { PathwayService, PathwayView } from './pathways.js';

/**
 * A learner's record across courses and platforms: the credentials they hold from this tool, the
 * credentials of other issuers they imported, the pathways those stack into, and its exports.
 * Pathways are awarded here, whenever what a learner holds changes.
 */

export type RecordSource = 'course' | 'pathway' | 'imported';

export interface RecordEntry {
  /** The credential's own id (urn:uuid:… for ours). */
  id: string;
  /** The row id, for downloads. */
  rowId: string;
  source: RecordSource;
  name: string;
  issuerDid: string;
  issuerName: string;
  achievementId: string;
  /** The course it was earned in, for course credentials. */
  course?: string;
  credits?: Credits;
  issuedAt: Date;
  validUntil?: Date;
  state: 'valid' | 'revoked' | 'expired';
  /** Imported only: false when its issuer's status list could not be read offline. */
  statusChecked?: boolean;
  /** What pathway evaluation counts it as; pathway credentials count toward nothing. */
  ref?: CredentialRef;
  /** Pathway credentials only: the pathway, and the ids of the credentials the award stands on. */
  pathway?: { id: string; basis: string[] };
  document: Record<string, unknown>;
}

export interface PathwayStanding {
  pathway: PathwayView;
  issuerDid: string;
  progress: PathwayProgress;
  /** The live credential of this pathway the learner holds, if awarded. */
  awarded?: RecordEntry;
  /** Names of the listed credentials, by refKey(). */
  names: Record<string, string>;
}

export interface LearnerRecord {
  learnerId: string;
  accounts: LearnerAccount[];
  entries: RecordEntry[];
  /** Awards not yet claimed: they count once claimed. */
  unclaimed: Array<{ credentialId: string; name: string; course: string }>;
  /** Valid credits in the system each was stated in. */
  creditsBySystem: Record<CreditSystem, number>;
  /** All valid credits, converted into each system. */
  totals: Record<CreditSystem, number>;
  pathways: PathwayStanding[];
}

export type ImportOutcome =
  | { ok: true; kind: 'imported'; name: string; issuer: string }
  | { ok: true; kind: 'linked'; platform: string }
  | { ok: false; reason: string; detail?: string | undefined };

/** Who brings a credential in: the learner (it must name them) or a registrar (who vouches, audited). */
export type Importer = { kind: 'learner'; account: LearnerAccount; email?: string | undefined } | { kind: 'registrar'; actor: string };

const asObject = (v: unknown): Record<string, unknown> => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});

export class LearnerRecords {
  private readonly pending = new Set<Promise<unknown>>();
  private readonly extensionUrl: string;

  constructor(
    private readonly db: Db,
    private readonly issuers: IssuerService,
    private readonly issuance: IssuanceService,
    private readonly pathways: PathwayService,
    private readonly publicUrl: string,
    private readonly logger: Logger,
  ) {
    this.extensionUrl = extensionContext(publicUrl).url;
  }

  /** Where a pathway revision's Achievement is published (issuance-routes.ts). */
  pathwayAchievementUrl(pathwayId: string, revision: number): string {
    return `${this.publicUrl}/pathways/${pathwayId}/${revision}`;
  }

  learnerOf(account: LearnerAccount): Promise<string> {
    return ensureLearner(this.db, account);
  }

  /** Every credential the learners hold, theirs and imported, valid or not. */
  async entriesOf(learnerIds: readonly string[], now = new Date()): Promise<Map<string, RecordEntry[]>> {
    const byLearner = new Map<string, RecordEntry[]>(learnerIds.map((id) => [id, []]));
    if (learnerIds.length === 0) return byLearner;
    const state = (revokedAt: Date | null, validUntil: Date | undefined): RecordEntry['state'] =>
      revokedAt ? 'revoked' : validUntil && validUntil <= now ? 'expired' : 'valid';
    const untilOf = (doc: Record<string, unknown>) => (typeof doc.validUntil === 'string' ? new Date(doc.validUntil) : undefined);
    const profiles = await this.issuerProfiles();

    const course = await this.db.selectFrom('issued_credential as i')
      .innerJoin('credential as c', 'c.id', 'i.credential_id')
      .innerJoin('lti_context as ctx', 'ctx.id', 'c.context_ref')
      .innerJoin('learner_account as la', (j) => j.onRef('la.issuer', '=', 'ctx.issuer').onRef('la.user_id', '=', 'i.user_id'))
      .innerJoin('credential_revision as r', (j) => j.onRef('r.credential_id', '=', 'i.credential_id').onRef('r.revision', '=', 'i.revision'))
      .select(['la.learner_id', 'i.id', 'i.credential_id', 'i.issuer_id', 'i.document', 'i.issued_at', 'i.revoked_at', 'r.definition', 'ctx.title', 'ctx.context_id'])
      .where('la.learner_id', 'in', learnerIds).orderBy('i.issued_at').execute();
    for (const row of course) {
      const definition = row.definition as unknown as Definition;
      const issuer = profiles.get(row.issuer_id)!;
      const validUntil = untilOf(row.document);
      const credits = definitionCredits(definition);
      byLearner.get(row.learner_id)!.push({
        id: `urn:uuid:${row.id}`, rowId: row.id, source: 'course', name: definition.name, issuerDid: issuer.id, issuerName: issuer.name,
        achievementId: String(asObject(asObject(row.document.credentialSubject).achievement).id), course: row.title ?? row.context_id,
        ...(credits ? { credits } : {}), issuedAt: row.issued_at, ...(validUntil ? { validUntil } : {}), state: state(row.revoked_at, validUntil),
        ref: { kind: 'local', credentialId: row.credential_id }, document: row.document,
      });
    }

    const stacked = await this.db.selectFrom('pathway_credential').selectAll().where('learner_id', 'in', learnerIds).orderBy('issued_at').execute();
    for (const row of stacked) {
      const issuer = profiles.get(row.issuer_id)!;
      const validUntil = untilOf(row.document);
      byLearner.get(row.learner_id)!.push({
        id: `urn:uuid:${row.id}`, rowId: row.id, source: 'pathway', name: String(row.document.name), issuerDid: issuer.id, issuerName: issuer.name,
        achievementId: this.pathwayAchievementUrl(row.pathway_id, row.revision), issuedAt: row.issued_at, ...(validUntil ? { validUntil } : {}),
        state: state(row.revoked_at, validUntil), document: row.document,
        pathway: { id: row.pathway_id, basis: (row.basis as { credentials: string[] }).credentials },
      });
    }

    const imported = await this.db.selectFrom('imported_credential as m').innerJoin('accepted_issuer as a', 'a.did', 'm.issuer_did')
      .select(['m.id', 'm.learner_id', 'm.issuer_did', 'm.achievement_id', 'm.achievement_name', 'm.credits', 'm.valid_from', 'm.valid_until', 'm.status_checked', 'm.document', 'a.name', 'a.credit_system'])
      .where('m.learner_id', 'in', learnerIds).orderBy('m.imported_at').execute();
    for (const row of imported) {
      byLearner.get(row.learner_id)!.push({
        id: typeof row.document.id === 'string' ? row.document.id : `urn:uuid:${row.id}`, rowId: row.id, source: 'imported', name: row.achievement_name,
        issuerDid: row.issuer_did, issuerName: row.name, achievementId: row.achievement_id,
        ...(row.credits !== null ? { credits: { amount: Number(row.credits), system: row.credit_system } } : {}),
        issuedAt: row.valid_from, ...(row.valid_until ? { validUntil: row.valid_until } : {}), state: state(null, row.valid_until ?? undefined),
        statusChecked: row.status_checked, ref: { kind: 'external', issuer: row.issuer_did, achievementId: row.achievement_id }, document: row.document,
      });
    }
    return byLearner;
  }

  /** One credential of the learner's record, for its download; undefined when it is not theirs. */
  async entry(learnerId: string, source: string, rowId: string): Promise<RecordEntry | undefined> {
    return (await this.entriesOf([learnerId])).get(learnerId)!.find((e) => e.source === source && e.rowId === rowId);
  }

  /** The record, with the pathways judged on what is held now. */
  async record(learnerId: string): Promise<LearnerRecord> {
    const entries = (await this.entriesOf([learnerId])).get(learnerId)!;
    const valid = entries.filter((e) => e.state === 'valid');
    const held = valid.flatMap((e): HeldCredential[] => (e.ref ? [{ id: e.id, issuer: e.issuerDid, ref: e.ref, name: e.name, ...(e.credits ? { credits: e.credits } : {}) }] : []));
    const credited = valid.flatMap((e) => (e.credits ? [e.credits] : []));
    const creditsBySystem = Object.fromEntries(CREDIT_SYSTEMS.map((s) => [s, sumCredits(credited.filter((c) => c.system === s), s)])) as Record<CreditSystem, number>;
    const totals = Object.fromEntries(CREDIT_SYSTEMS.map((s) => [s, sumCredits(credited, s)])) as Record<CreditSystem, number>;
    const [names, profiles] = await Promise.all([this.refNames(), this.issuerProfiles()]);
    const pathways: PathwayStanding[] = [];
    for (const pathway of await this.pathways.list()) {
      const issuerDid = profiles.get(pathway.issuerId)!.id;
      const progress = evaluatePathway(pathway.definition, { ownIssuer: issuerDid, acceptedIssuers: new Set(pathway.definition.acceptedIssuers) }, held);
      const awarded = entries.find((e) => e.pathway?.id === pathway.id && e.state === 'valid');
      pathways.push({ pathway, issuerDid, progress, ...(awarded ? { awarded } : {}), names: Object.fromEntries(pathway.definition.credentials.map((r) => [refKey(r), names.get(refKey(r)) ?? refLabel(r)])) });
    }
    return { learnerId, accounts: await accountsOf(this.db, learnerId), entries, unclaimed: await this.unclaimed(learnerId), creditsBySystem, totals, pathways };
  }

  /** Awards each pathway the learner now satisfies and does not hold; returns how many were issued. */
  async reconsider(learnerId: string, identity: { name?: string | undefined; email?: string | undefined } = {}): Promise<number> {
    const active = await this.db.selectFrom('pathway').select('id').where('archived_at', 'is', null).limit(1).executeTakeFirst();
    if (!active) return 0;
    return this.awardSatisfied(await this.record(learnerId), identity);
  }

  /** The record after awarding what it satisfies: read again only when something was awarded. */
  async recordAfterAwarding(learnerId: string, identity: { name?: string | undefined; email?: string | undefined }): Promise<LearnerRecord> {
    const record = await this.record(learnerId);
    return (await this.awardSatisfied(record, identity)) > 0 ? this.record(learnerId) : record;
  }

  private async awardSatisfied(record: LearnerRecord, identity: { name?: string | undefined; email?: string | undefined }): Promise<number> {
    const learnerId = record.learnerId;
    const decided = await this.db.selectFrom('pathway_credential').select(['pathway_id', 'revision', 'revoked_at']).where('learner_id', '=', learnerId).execute();
    let issued = 0;
    for (const standing of record.pathways) {
      const { pathway, progress } = standing;
      // A live award stands; a revoked one is not made again under its revision.
      const blocked = decided.some((d) => d.pathway_id === pathway.id && (d.revoked_at === null || d.revision === pathway.revision));
      if (!progress.satisfied || blocked) continue;
      if (await this.issuePathway(standing, record, identity)) issued += 1;
    }
    return issued;
  }

  /** Reconsiders in the background, after something the learner holds changed; failures are logged and met again next time. */
  reconsiderLater(account: LearnerAccount, identity: { name?: string | undefined; email?: string | undefined } = {}): void {
    const run = this.learnerOf(account).then((learnerId) => this.reconsider(learnerId, identity))
      .catch((err: unknown) => this.logger.error({ err, issuer: account.issuer, user: account.userId }, 'pathway evaluation failed'));
    this.pending.add(run);
    void run.finally(() => this.pending.delete(run));
  }

  /** Every learner reconsidered, after a pathway is created, changed or restored; one learner's failure does not stop the rest. */
  reconsiderEveryone(): void {
    const run = (async () => {
      const learners = await this.db.selectFrom('learner').select('id').execute();
      let failed = 0;
      for (const { id } of learners) {
        await this.reconsider(id).catch((err: unknown) => {
          failed += 1;
          this.logger.error({ err, learnerId: id }, 'pathway evaluation failed');
        });
      }
      this.logger.info({ learners: learners.length, failed }, 'pathway sweep done');
    })().catch((err: unknown) => this.logger.error({ err }, 'pathway sweep failed'));
    this.pending.add(run);
    void run.finally(() => this.pending.delete(run));
  }

  /** Resolves once no evaluation started so far is running. */
  async idle(): Promise<void> {
    while (this.pending.size) await Promise.allSettled([...this.pending]);
  }

  private async issuePathway(standing: PathwayStanding, record: LearnerRecord, identity: { name?: string | undefined; email?: string | undefined }): Promise<boolean> {
    const { pathway, progress } = standing;
    const issuerRow = await this.issuers.byId(pathway.issuerId);
    const known = await this.knownIdentity(record.learnerId);
    const email = identity.email ?? known.email;
    const status = await this.issuance.statusLists.allocate(issuerRow.id);
    const id = randomUUID();
    const now = new Date();
    const validUntil = pathway.definition.validForMonths ? new Date(now) : undefined;
    validUntil?.setUTCMonth(validUntil.getUTCMonth() + pathway.definition.validForMonths!);
    const constituents = progress.basis.map((heldId) => ({ id: heldId, name: record.entries.find((e) => e.id === heldId)?.name ?? heldId }));
    const unsigned = buildPathwayCredential({
      id: `urn:uuid:${id}`, achievementId: this.pathwayAchievementUrl(pathway.id, pathway.revision), pathway: pathway.definition,
      issuer: this.issuers.profileOf(issuerRow),
      identifier: learnerIdentifiers({ email, userIds: record.accounts.map((a) => a.userId) }, randomBytes(12).toString('base64url')),
      constituents, validFrom: now.toISOString(), ...(validUntil ? { validUntil: validUntil.toISOString() } : {}),
      extensionContextUrl: this.extensionUrl, credentialStatus: status.entry,
    });
    const signed = await this.issuance.sign(issuerRow.id, unsigned);
    const keyId = ((signed.proof as Array<{ verificationMethod: string }>)[0]!).verificationMethod;
    return this.db.transaction().execute(async (trx) => {
      const row = await trx.insertInto('pathway_credential').values({
        id, pathway_id: pathway.id, revision: pathway.revision, learner_id: record.learnerId,
        basis: JSON.stringify({ credentials: progress.basis, ...(progress.credits ? { credits: progress.credits } : {}) }),
        issuer_id: issuerRow.id, key_id: keyId, status_list_id: status.listId, status_index: status.index, document: JSON.stringify(signed),
        holder_name: identity.name ?? known.name ?? null, revoked_at: null, revoked_by: null, revocation_reason: null,
      }).onConflict((oc) => oc.columns(['pathway_id', 'learner_id']).where('revoked_at', 'is', null).doNothing()).returning('id').executeTakeFirst();
      // Another evaluation awarded it first: theirs stands.
      if (row) await recordAudit(trx, 'system', 'pathway.awarded', `urn:uuid:${id}`, { pathwayId: pathway.id, revision: pathway.revision, learnerId: record.learnerId, basis: progress.basis });
      return row !== undefined;
    });
  }

  /** Revokes a pathway credential; its bit is set in the issuer's published list. */
  async revokePathwayCredential(rowId: string, actor: string, reason: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const row = await trx.updateTable('pathway_credential').set({ revoked_at: new Date(), revoked_by: actor, revocation_reason: reason })
        .where('id', '=', rowId).where('revoked_at', 'is', null).returning(['id', 'status_list_id']).executeTakeFirst();
      if (!row) return false;
      await trx.updateTable('status_list').set((eb) => ({ version: eb('version', '+', 1) })).where('id', '=', row.status_list_id).execute();
      await recordAudit(trx, actor, 'pathway.revoked', `urn:uuid:${row.id}`, { reason });
      return true;
    });
  }

  /**
   * A credential brought in. One of ours, presented from another platform, links that account to
   * this learner; another issuer's is verified offline and kept, to count where it is accepted.
   */
  async bringIn(learnerId: string, text: string, importer: Importer): Promise<ImportOutcome> {
    if (Buffer.byteLength(text) > MAX_PROOF_CHECK_BYTES) return { ok: false, reason: 'too_large' };
    let credential: unknown;
    try {
      credential = JSON.parse(text);
    } catch {
      return { ok: false, reason: 'not_json' };
    }
    const issuerDid = typeof credential === 'object' && credential !== null ? idOf((credential as Record<string, unknown>).issuer) : undefined;
    if (issuerDid && (await this.issuers.isOwnIssuer(issuerDid))) {
      return importer.kind === 'learner' ? this.link(learnerId, credential, importer) : { ok: false, reason: 'own_credential' };
    }
    const accepted = await this.pathways.acceptedIssuers();
    const acceptedIssuer = accepted.find((a) => a.did === issuerDid);
    if (issuerDid && !acceptedIssuer) return { ok: false, reason: 'issuer_not_accepted', detail: issuerDid };
    const documentLoader = offlineDocumentLoader(externalIssuerDocuments(accepted.map((a) => ({ did: a.did, keys: a.keys }))));
    const check = await checkExternalCredential(credential, { documentLoader, isOwnIssuer: (did) => this.issuers.isOwnIssuer(did) });
    if (!check.ok) return { ok: false, reason: check.reason, detail: check.detail };
    if (importer.kind === 'learner' && !namesHolder(credential, importer.email)) return { ok: false, reason: 'holder_unmatched' };
    const actor = importer.kind === 'learner' ? `learner ${importer.account.issuer} ${importer.account.userId}` : importer.actor;
    const inserted = await this.db.transaction().execute(async (trx) => {
      const row = await trx.insertInto('imported_credential').values({
        learner_id: learnerId, issuer_did: check.issuer, achievement_id: check.achievementId, achievement_name: check.achievementName,
        credits: check.credits ?? null, valid_from: new Date(check.validFrom), valid_until: check.validUntil ? new Date(check.validUntil) : null,
        status_checked: check.statusChecked === 'no_status', document: JSON.stringify(credential), document_hash: check.documentHash, imported_by: actor,
      }).onConflict((oc) => oc.column('document_hash').doNothing()).returning('id').executeTakeFirst();
      if (row) await recordAudit(trx, actor, 'credential.imported', check.issuer, { learnerId, achievementId: check.achievementId, importedId: row.id });
      return row;
    });
    if (!inserted) return { ok: false, reason: 'already_imported' };
    await this.reconsider(learnerId, importer.kind === 'learner' ? { email: importer.email } : {});
    return { ok: true, kind: 'imported', name: check.achievementName, issuer: acceptedIssuer!.name };
  }

  /** Removes an imported credential from the record; what it helped award stays awarded. */
  async removeImport(learnerId: string, importedId: string, actor: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const row = await trx.deleteFrom('imported_credential').where('id', '=', importedId).where('learner_id', '=', learnerId).returning(['issuer_did', 'achievement_id']).executeTakeFirst();
      if (row) await recordAudit(trx, actor, 'credential.import_removed', row.issuer_did, { learnerId, achievementId: row.achievement_id, importedId });
      return row !== undefined;
    });
  }

  /**
   * Links the account a credential of ours was issued to (on another platform) to this learner. The
   * credential must verify and name the presenter by the salted hash of the email their platform
   * gives: holding a copy of a shared credential is not enough.
   */
  private async link(learnerId: string, credential: unknown, importer: Extract<Importer, { kind: 'learner' }>): Promise<ImportOutcome> {
    const report = await this.issuance.verify(credential);
    if (report.verdict !== 'valid') return { ok: false, reason: `link_${report.verdict}` };
    const uuid = String((credential as Record<string, unknown>).id ?? '').replace(/^urn:uuid:/, '');
    const issued = await this.issuance.byId(uuid);
    if (!issued) return { ok: false, reason: 'link_pathway_credential' };
    const ctx = await this.db.selectFrom('credential as c').innerJoin('lti_context as x', 'x.id', 'c.context_ref').select('x.issuer').where('c.id', '=', issued.credential_id).executeTakeFirstOrThrow();
    const account = { issuer: ctx.issuer, userId: issued.user_id };
    const other = await ensureLearner(this.db, account);
    if (other === learnerId) return { ok: false, reason: 'already_linked' };
    // On one platform `sub` is the person: another account there is another person.
    if (account.issuer === importer.account.issuer) return { ok: false, reason: 'same_platform' };
    if (!namesHolder(issued.document, importer.email)) return { ok: false, reason: 'holder_unmatched' };
    await this.merge(other, learnerId, `learner ${importer.account.issuer} ${importer.account.userId}`);
    await this.reconsider(learnerId, { email: importer.email });
    return { ok: true, kind: 'linked', platform: account.issuer };
  }

  /** Moves everything of one learner to another, in one transaction. */
  private async merge(from: string, into: string, actor: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      // Both held a live award of the same pathway: one person needs one.
      const duplicates = await trx.selectFrom('pathway_credential as f').innerJoin('pathway_credential as t', 't.pathway_id', 'f.pathway_id')
        .select(['f.id', 'f.status_list_id']).where('f.learner_id', '=', from).where('t.learner_id', '=', into)
        .where('f.revoked_at', 'is', null).where('t.revoked_at', 'is', null).execute();
      for (const d of duplicates) {
        await trx.updateTable('pathway_credential').set({ revoked_at: new Date(), revoked_by: actor, revocation_reason: 'duplicate after linking accounts' }).where('id', '=', d.id).execute();
        await trx.updateTable('status_list').set((eb) => ({ version: eb('version', '+', 1) })).where('id', '=', d.status_list_id).execute();
      }
      const moved = await trx.updateTable('learner_account').set({ learner_id: into, linked_by: 'presented_credential', linked_at: new Date() }).where('learner_id', '=', from).returning(['issuer', 'user_id']).execute();
      await trx.updateTable('imported_credential').set({ learner_id: into }).where('learner_id', '=', from).execute();
      await trx.updateTable('pathway_credential').set({ learner_id: into }).where('learner_id', '=', from).execute();
      await trx.deleteFrom('learner').where('id', '=', from).execute();
      await recordAudit(trx, actor, 'learner.linked', into, { from, accounts: moved, revokedDuplicates: duplicates.map((d) => d.id) });
    });
  }

  /** The record as a CLR 2.0 ClrCredential signed by the default issuer: every valid credential, and how they stack; undefined when none is valid. */
  async exportClr(learnerId: string, name: string): Promise<Record<string, unknown> | undefined> {
    const record = await this.record(learnerId);
    const valid = record.entries.filter((e) => e.state === 'valid');
    // A CLR holds at least one credential.
    if (valid.length === 0) return undefined;
    const associations: ClrAssociation[] = [];
    for (const standing of record.pathways) {
      const awarded = standing.awarded;
      if (!awarded) continue;
      for (const heldId of awarded.pathway!.basis) {
        const part = valid.find((e) => e.id === heldId);
        if (part) associations.push({ associationType: 'isPartOf', sourceId: part.achievementId, targetId: awarded.achievementId });
      }
    }
    const issuerRow = await this.issuers.defaultIssuer();
    const known = await this.knownIdentity(learnerId);
    const unsigned = buildClrCredential({
      id: `urn:uuid:${randomUUID()}`, issuer: this.issuers.profileOf(issuerRow), name, validFrom: new Date().toISOString(),
      identifier: learnerIdentifiers({ email: known.email, userIds: record.accounts.map((a) => a.userId) }, randomBytes(12).toString('base64url')),
      credentials: valid.map((e) => e.document), associations,
    });
    return this.issuance.sign(issuerRow.id, unsigned);
  }

  /** Learners who hold anything, a page at a time, for the registrar's export. */
  async learnerPage(after: string | undefined, size: number): Promise<string[]> {
    let q = this.db.selectFrom('learner').select('id').orderBy('id').limit(size);
    if (after) q = q.where('id', '>', after);
    return (await q.execute()).map((r) => r.id);
  }

  private async issuerProfiles(): Promise<Map<string, IssuerProfile>> {
    return new Map((await this.db.selectFrom('issuer_profile').selectAll().execute()).map((p) => [p.id, this.issuers.profileOf(p)]));
  }

  private async unclaimed(learnerId: string): Promise<LearnerRecord['unclaimed']> {
    const rows = await this.db.selectFrom('award as a')
      .innerJoin('credential as c', 'c.id', 'a.credential_id')
      .innerJoin('lti_context as ctx', 'ctx.id', 'c.context_ref')
      .innerJoin('learner_account as la', (j) => j.onRef('la.issuer', '=', 'ctx.issuer').onRef('la.user_id', '=', 'a.user_id'))
      .innerJoin('credential_revision as r', (j) => j.onRef('r.credential_id', '=', 'a.credential_id').onRef('r.revision', '=', 'a.revision'))
      .leftJoin('issued_credential as i', (j) => j.onRef('i.credential_id', '=', 'a.credential_id').onRef('i.revision', '=', 'a.revision').onRef('i.user_id', '=', 'a.user_id'))
      .select(['a.credential_id', 'r.definition', 'ctx.title', 'ctx.context_id'])
      .where('la.learner_id', '=', learnerId).where('a.revoked_at', 'is', null).where('i.id', 'is', null).execute();
    return rows.map((r) => ({ credentialId: r.credential_id, name: String(r.definition.name), course: r.title ?? r.context_id }));
  }

  /** The newest name and email any of the learner's platforms gave for them. */
  private async knownIdentity(learnerId: string): Promise<{ name?: string; email?: string }> {
    const row = await this.db.selectFrom('learner_gradebook as g')
      .innerJoin('lti_context as ctx', 'ctx.id', 'g.context_ref')
      .innerJoin('learner_account as la', (j) => j.onRef('la.issuer', '=', 'ctx.issuer').onRef('la.user_id', '=', 'g.user_id'))
      .select('g.member').where('la.learner_id', '=', learnerId).where(sql<boolean>`g.member is not null`).orderBy('g.fetched_at', 'desc').limit(1).executeTakeFirst();
    const member = asObject(row?.member);
    return { ...(typeof member.name === 'string' ? { name: member.name } : {}), ...(typeof member.email === 'string' ? { email: member.email } : {}) };
  }

  /** Names for the credentials pathways list: ours by definition, others' by an imported copy. */
  private async refNames(): Promise<Map<string, string>> {
    const names = new Map<string, string>();
    for (const c of await this.pathways.stackable()) names.set(refKey({ kind: 'local', credentialId: c.id }), `${c.name} (${c.courseTitle})`);
    const imported = await this.db.selectFrom('imported_credential').select(['issuer_did', 'achievement_id', 'achievement_name']).distinctOn(['issuer_did', 'achievement_id']).execute();
    for (const i of imported) names.set(refKey({ kind: 'external', issuer: i.issuer_did, achievementId: i.achievement_id }), i.achievement_name);
    return names;
  }
}

const idOf = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof asObject(v).id === 'string' ? (asObject(v).id as string) : undefined);

function refLabel(ref: CredentialRef): string {
  return ref.kind === 'local' ? ref.credentialId : ref.achievementId;
}

/**
 * Whether a credential names the holder by the email their platform gives: an emailAddress
 * IdentityObject whose hash (salted as OB 3.0 says, sha256 of email + salt) matches.
 */
export function namesHolder(credential: unknown, email: string | undefined): boolean {
  if (!email) return false;
  const normalized = email.trim().toLowerCase();
  const identifiers = [asObject(asObject(credential).credentialSubject).identifier].flat().map(asObject);
  return identifiers.some((i) => {
    if (i.identityType !== 'emailAddress' || typeof i.identityHash !== 'string') return false;
    if (i.hashed !== true) return i.identityHash.trim().toLowerCase() === normalized;
    return i.identityHash.toLowerCase() === identityHash(normalized, typeof i.salt === 'string' ? i.salt : '');
  });
}
