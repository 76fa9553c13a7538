import { sql } from 'kysely';
import { z } from 'zod';
import { zodErrors } from '../criteria/index.js';
import { recordAudit } from '../db/audit.js';
import type { Db } from '../db/database.js';
import type { FieldError } from './definition-schema.js';
import { acceptedIssuerSchema, pathwayDefinitionSchema, type PathwayDefinition } from './pathway-schema.js';
import type { CreditSystem } from '../criteria/credits.js';
import type { PinnedKey } from '../db/schema.js';

/**
 * Pathways and the other issuers they may accept, managed by the installation's administrator.
 * Like course credentials, a revision that has been awarded is never changed: an edit adds one.
 */

export interface PathwayView {
  id: string;
  issuerId: string;
  revision: number;
  definition: PathwayDefinition;
  createdAt: Date;
  archivedAt: Date | null;
}

export interface AcceptedIssuer {
  did: string;
  name: string;
  creditSystem: CreditSystem;
  keys: PinnedKey[];
  addedAt: Date;
}

export type PathwaySaved = { ok: true; pathway: PathwayView } | { ok: false; errors: FieldError[] };

export class PathwayNotFoundError extends Error {}

/** A course credential a pathway may list: its id, name, and where it lives. */
export interface StackableCredential {
  id: string;
  name: string;
  courseTitle: string;
  platformIssuer: string;
}

export class PathwayService {
  constructor(private readonly db: Db) {}

  async list(options: { includeArchived?: boolean } = {}): Promise<PathwayView[]> {
    let q = this.current();
    if (!options.includeArchived) q = q.where('p.archived_at', 'is', null);
    return (await q.orderBy('p.created_at').execute()).map(toView);
  }

  async get(id: string): Promise<PathwayView> {
    const row = z.string().uuid().safeParse(id).success ? await this.current().where('p.id', '=', id).executeTakeFirst() : undefined;
    if (!row) throw new PathwayNotFoundError(`No pathway ${id}.`);
    return toView(row);
  }

  async create(issuerId: string, input: unknown, actor: string): Promise<PathwaySaved> {
    const checked = await this.validate(input);
    if (!checked.ok) return checked;
    const id = await this.db.transaction().execute(async (trx) => {
      const { id } = await trx.insertInto('pathway').values({ issuer_id: issuerId, current_revision: 1, created_by: actor, archived_at: null }).returning('id').executeTakeFirstOrThrow();
      await trx.insertInto('pathway_revision').values({ pathway_id: id, revision: 1, definition: JSON.stringify(checked.definition), created_by: actor }).execute();
      await recordAudit(trx, actor, 'pathway.create', id, { name: checked.definition.name });
      return id;
    });
    return { ok: true, pathway: await this.get(id) };
  }

  async update(id: string, input: unknown, actor: string): Promise<PathwaySaved> {
    await this.get(id);
    const checked = await this.validate(input);
    if (!checked.ok) return checked;
    await this.db.transaction().execute(async (trx) => {
      // Serialise edits, and see awards made meanwhile.
      const { current_revision: revision } = await trx.selectFrom('pathway').select('current_revision').where('id', '=', id).forUpdate().executeTakeFirstOrThrow();
      const awarded = await trx.selectFrom('pathway_credential').select(sql<number>`count(*)::int`.as('n')).where('pathway_id', '=', id).where('revision', '=', revision).executeTakeFirstOrThrow();
      const definition = JSON.stringify(checked.definition);
      if (awarded.n > 0) {
        await trx.insertInto('pathway_revision').values({ pathway_id: id, revision: revision + 1, definition, created_by: actor }).execute();
        await trx.updateTable('pathway').set({ current_revision: revision + 1 }).where('id', '=', id).execute();
      } else {
        await trx.updateTable('pathway_revision').set({ definition }).where('pathway_id', '=', id).where('revision', '=', revision).execute();
      }
      await recordAudit(trx, actor, 'pathway.update', id, { revision: awarded.n > 0 ? revision + 1 : revision, newRevision: awarded.n > 0 });
    });
    return { ok: true, pathway: await this.get(id) };
  }

  /** An archived pathway is awarded no more; the credentials it issued stay valid. */
  async setArchived(id: string, archived: boolean, actor: string): Promise<void> {
    await this.get(id);
    await this.db.transaction().execute(async (trx) => {
      await trx.updateTable('pathway').set({ archived_at: archived ? new Date() : null }).where('id', '=', id).execute();
      await recordAudit(trx, actor, archived ? 'pathway.archive' : 'pathway.restore', id, {});
    });
  }

  /** Every course credential of the installation, for the pathway form. */
  async stackable(): Promise<StackableCredential[]> {
    const rows = await this.db.selectFrom('credential as c')
      .innerJoin('credential_revision as r', (j) => j.onRef('r.credential_id', '=', 'c.id').onRef('r.revision', '=', 'c.current_revision'))
      .innerJoin('lti_context as ctx', 'ctx.id', 'c.context_ref')
      .select(['c.id', 'r.definition', 'ctx.title', 'ctx.context_id', 'ctx.issuer'])
      .orderBy('ctx.title').orderBy('c.created_at').execute();
    return rows.map((r) => ({ id: r.id, name: String(r.definition.name), courseTitle: r.title ?? r.context_id, platformIssuer: r.issuer }));
  }

  async acceptedIssuers(): Promise<AcceptedIssuer[]> {
    const rows = await this.db.selectFrom('accepted_issuer').selectAll().orderBy('name').execute();
    return rows.map((r) => ({ did: r.did, name: r.name, creditSystem: r.credit_system, keys: r.keys, addedAt: r.added_at }));
  }

  async acceptIssuer(input: unknown, actor: string): Promise<{ ok: true } | { ok: false; errors: FieldError[] }> {
    const parsed = acceptedIssuerSchema.safeParse(input);
    if (!parsed.success) return { ok: false, errors: zodErrors(parsed.error) };
    const v = parsed.data;
    await this.db.transaction().execute(async (trx) => {
      const keys = JSON.stringify(v.keys);
      await trx.insertInto('accepted_issuer').values({ did: v.did, name: v.name, credit_system: v.creditSystem, keys, added_by: actor })
        .onConflict((oc) => oc.column('did').doUpdateSet({ name: v.name, credit_system: v.creditSystem, keys })).execute();
      await recordAudit(trx, actor, 'accepted_issuer.save', v.did, { name: v.name, creditSystem: v.creditSystem, keys: v.keys });
    });
    return { ok: true };
  }

  /** Refused while credentials of the issuer are imported or a pathway accepts it: they would lose their meaning. */
  async removeIssuer(did: string, actor: string): Promise<{ ok: true } | { ok: false; reason: 'in_use' | 'not_found' }> {
    const imported = await this.db.selectFrom('imported_credential').select('id').where('issuer_did', '=', did).executeTakeFirst();
    const acceptedBy = (await this.list()).some((p) => p.definition.acceptedIssuers.includes(did));
    if (imported || acceptedBy) return { ok: false, reason: 'in_use' };
    const removed = await this.db.transaction().execute(async (trx) => {
      const row = await trx.deleteFrom('accepted_issuer').where('did', '=', did).returning('did').executeTakeFirst();
      if (row) await recordAudit(trx, actor, 'accepted_issuer.remove', did, {});
      return row;
    });
    return removed ? { ok: true } : { ok: false, reason: 'not_found' };
  }

  private current() {
    return this.db.selectFrom('pathway as p')
      .innerJoin('pathway_revision as r', (j) => j.onRef('r.pathway_id', '=', 'p.id').onRef('r.revision', '=', 'p.current_revision'))
      .select(['p.id', 'p.issuer_id', 'p.current_revision as revision', 'p.created_at', 'p.archived_at', 'r.definition']);
  }

  /** The definition whole, then what it names: credentials of this tool, issuers on the accepted list. */
  private async validate(input: unknown): Promise<{ ok: true; definition: PathwayDefinition } | { ok: false; errors: FieldError[] }> {
    const parsed = pathwayDefinitionSchema.safeParse(input);
    if (!parsed.success) return { ok: false, errors: zodErrors(parsed.error) };
    const definition = parsed.data;
    const errors: FieldError[] = [];
    const localIds = definition.credentials.flatMap((c) => (c.kind === 'local' ? [c.credentialId] : []));
    const known = new Set(localIds.length ? (await this.db.selectFrom('credential').select('id').where('id', 'in', localIds).execute()).map((r) => r.id) : []);
    definition.credentials.forEach((c, i) => {
      if (c.kind === 'local' && !known.has(c.credentialId)) errors.push({ path: `/credentials/${i}/credentialId`, message: 'no credential of this tool has this id' });
    });
    const accepted = new Set((await this.acceptedIssuers()).map((a) => a.did));
    definition.acceptedIssuers.forEach((did, i) => {
      if (!accepted.has(did)) errors.push({ path: `/acceptedIssuers/${i}`, message: 'add this issuer to the accepted issuers first (with its key unless it is a did:key)' });
    });
    return errors.length ? { ok: false, errors } : { ok: true, definition };
  }
}

function toView(row: { id: string; issuer_id: string; revision: number; created_at: Date; archived_at: Date | null; definition: unknown }): PathwayView {
  return { id: row.id, issuerId: row.issuer_id, revision: row.revision, definition: row.definition as PathwayDefinition, createdAt: row.created_at, archivedAt: row.archived_at };
}
