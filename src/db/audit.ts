import type { Kysely } from 'kysely';
import type { Tables } from './schema.js';

/** Appends to the audit log; pass a transaction to make the entry part of the change it records. */
export async function recordAudit(db: Kysely<Tables>, actor: string, action: string, target: string, details: Record<string, unknown>): Promise<void> {
  await db.insertInto('audit_event').values({ actor, action, target, details: JSON.stringify(details) }).execute();
}

/** Which entries a reader may see: all of them, or those about one platform. */
export type AuditScope = { kind: 'all' } | { kind: 'platform'; target: string };

export interface AuditPage {
  entries: Array<{ id: string; at: Date; actor: string; action: string; target: string; details: Record<string, unknown> }>;
  hasNext: boolean;
}

function scoped(db: Kysely<Tables>, scope: AuditScope) {
  const q = db.selectFrom('audit_event');
  if (scope.kind === 'all') return q;
  return q.where('target', '=', scope.target);
}

/** Newest first, one page at a time; pages are numbered from 1. */
export async function readAudit(db: Kysely<Tables>, scope: AuditScope, filter: { action?: string | undefined; page: number; pageSize: number }): Promise<AuditPage> {
  let q = scoped(db, scope).selectAll();
  if (filter.action) q = q.where('action', '=', filter.action);
  const rows = await q.orderBy('at', 'desc').orderBy('id', 'desc').limit(filter.pageSize + 1).offset((filter.page - 1) * filter.pageSize).execute();
  return { entries: rows.slice(0, filter.pageSize), hasNext: rows.length > filter.pageSize };
}

/** The actions that occur in a scope, for the filter. */
export async function auditActions(db: Kysely<Tables>, scope: AuditScope): Promise<string[]> {
  const rows = await scoped(db, scope).select('action').distinct().orderBy('action').execute();
  return rows.map((r) => r.action);
}
