import { sql } from 'kysely';
import { z } from 'zod';
import { parseCriteria, prerequisitesOf, validateAgainstGradebook, zodErrors, type Criteria } from '../criteria/index.js';
import { recordAudit } from '../db/audit.js';
import type { Db } from '../db/database.js';
import type { GradebookLineItem } from '../gradebook/types.js';
import { definitionSchema, type Definition, type FieldError } from './definition-schema.js';

/** A course as the tool keys it: platform + deployment + context, through lti_context. */
export interface CourseRef {
  contextRef: string;
  issuer: string;
  clientId: string;
}

export interface CredentialView {
  id: string;
  revision: number;
  definition: Definition;
  criteria: Criteria;
  createdAt: Date;
  copiedFrom: string | null;
}

export type Saved = { ok: true; credential: CredentialView } | { ok: false; errors: FieldError[] };

export class CredentialNotFoundError extends Error {}

const submission = z.object({ definition: z.unknown(), criteria: z.unknown() }).strict();

/**
 * Credential definitions of a course. Input is validated whole (definition fields, criteria tree,
 * and the tree against the course's real gradebook columns) before anything is written, and a
 * save is one transaction: never half-saved. A revision that has awards is never changed; editing
 * it adds a revision, and the awards keep theirs.
 */
export class DefinitionService {
  constructor(private readonly db: Db) {}

  async list(course: CourseRef): Promise<CredentialView[]> {
    const rows = await this.currentRevisions().where('c.context_ref', '=', course.contextRef).orderBy('c.created_at').execute();
    return rows.map(toView);
  }

  async get(course: CourseRef, id: string): Promise<CredentialView> {
    const row = z.string().uuid().safeParse(id).success
      ? await this.currentRevisions().where('c.context_ref', '=', course.contextRef).where('c.id', '=', id).executeTakeFirst()
      : undefined;
    if (!row) throw new CredentialNotFoundError(`No credential ${id} in this course.`);
    return toView(row);
  }

  async create(course: CourseRef, input: unknown, lineItems: GradebookLineItem[], actor: string): Promise<Saved> {
    const checked = await this.validate(course, input, lineItems, undefined);
    if (!checked.ok) return checked;
    const id = await this.db.transaction().execute(async (trx) => {
      const { id } = await trx.insertInto('credential').values({ context_ref: course.contextRef, current_revision: 1, created_by: actor, copied_from: null })
        .returning('id').executeTakeFirstOrThrow();
      await trx.insertInto('credential_revision').values({
        credential_id: id, revision: 1, definition: JSON.stringify(checked.definition), criteria: JSON.stringify(checked.criteria), created_by: actor,
      }).execute();
      await recordAudit(trx, actor, 'credential.create', id, { contextRef: course.contextRef });
      return id;
    });
    return { ok: true, credential: await this.get(course, id) };
  }

  async update(course: CourseRef, id: string, input: unknown, lineItems: GradebookLineItem[], actor: string): Promise<Saved> {
    const existing = await this.get(course, id);
    const checked = await this.validate(course, input, lineItems, existing.id);
    if (!checked.ok) return checked;
    await this.db.transaction().execute(async (trx) => {
      // Serialise edits of one credential, and see awards made concurrently.
      const { current_revision: revision } = await trx.selectFrom('credential').select('current_revision')
        .where('id', '=', id).forUpdate().executeTakeFirstOrThrow();
      const awarded = await trx.selectFrom('award').select(sql<number>`count(*)::int`.as('n'))
        .where('credential_id', '=', id).where('revision', '=', revision).executeTakeFirstOrThrow();
      const values = { definition: JSON.stringify(checked.definition), criteria: JSON.stringify(checked.criteria) };
      if (awarded.n > 0) {
        await trx.insertInto('credential_revision').values({ credential_id: id, revision: revision + 1, created_by: actor, ...values }).execute();
        await trx.updateTable('credential').set({ current_revision: revision + 1 }).where('id', '=', id).execute();
      } else {
        await trx.updateTable('credential_revision').set(values).where('credential_id', '=', id).where('revision', '=', revision).execute();
      }
      await recordAudit(trx, actor, 'credential.update', id, { revision: awarded.n > 0 ? revision + 1 : revision, newRevision: awarded.n > 0 });
    });
    return { ok: true, credential: await this.get(course, id) };
  }

  /** Copies a credential into another course of the same platform, as a fresh credential. */
  async copy(from: CourseRef, id: string, to: CourseRef, lineItems: GradebookLineItem[], actor: string): Promise<Saved> {
    if (from.issuer !== to.issuer || from.clientId !== to.clientId) throw new CredentialNotFoundError(`No credential ${id} on this platform.`);
    const source = await this.get(from, id);
    const saved = await this.create(to, { definition: source.definition, criteria: source.criteria }, lineItems, actor);
    if (!saved.ok) return saved;
    await this.db.updateTable('credential').set({ copied_from: source.id }).where('id', '=', saved.credential.id).execute();
    return { ok: true, credential: { ...saved.credential, copiedFrom: source.id } };
  }

  private currentRevisions() {
    return this.db.selectFrom('credential as c')
      .innerJoin('credential_revision as r', (j) => j.onRef('r.credential_id', '=', 'c.id').onRef('r.revision', '=', 'c.current_revision'))
      .select(['c.id', 'c.current_revision as revision', 'c.created_at', 'c.copied_from', 'r.definition', 'r.criteria']);
  }

  private async validate(course: CourseRef, input: unknown, lineItems: GradebookLineItem[], selfId: string | undefined): Promise<{ ok: true; definition: Definition; criteria: Criteria } | { ok: false; errors: FieldError[] }> {
    const outer = submission.safeParse(input);
    if (!outer.success) return { ok: false, errors: zodErrors(outer.error) };
    const definition = definitionSchema.safeParse(outer.data.definition);
    const criteria = parseCriteria(outer.data.criteria);
    const errors = [
      ...(definition.success ? [] : zodErrors(definition.error, ['definition'])),
      ...(criteria.ok ? [] : criteria.errors.map((e) => ({ ...e, path: `/criteria${e.path === '/' ? '' : e.path}` }))),
    ];
    if (!definition.success || !criteria.ok) return { ok: false, errors };
    const graph = await this.prerequisiteGraph(course);
    const gradebookErrors = validateAgainstGradebook(criteria.criteria, lineItems, {
      credentialIds: Object.keys(graph),
      ...(selfId ? { definitionId: selfId } : {}),
      prerequisiteGraph: graph,
    });
    if (gradebookErrors.length) return { ok: false, errors: gradebookErrors.map((e) => ({ ...e, path: `/criteria${e.path === '/' ? '' : e.path}` })) };
    return { ok: true, definition: definition.data, criteria: criteria.criteria };
  }

  /** Prerequisites of every credential on the same platform (the issuer's credentials). */
  private async prerequisiteGraph(course: CourseRef): Promise<Record<string, string[]>> {
    const rows = await this.currentRevisions()
      .innerJoin('lti_context as ctx', 'ctx.id', 'c.context_ref')
      .where('ctx.issuer', '=', course.issuer).where('ctx.client_id', '=', course.clientId)
      .execute();
    return Object.fromEntries(rows.map((r) => [r.id, prerequisitesOf(r.criteria as Criteria)]));
  }
}

function toView(row: { id: string; revision: number; created_at: Date; copied_from: string | null; definition: unknown; criteria: unknown }): CredentialView {
  return {
    id: row.id,
    revision: row.revision,
    definition: row.definition as Definition,
    criteria: row.criteria as Criteria,
    createdAt: row.created_at,
    copiedFrom: row.copied_from,
  };
}
