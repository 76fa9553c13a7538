import type { Kysely } from 'kysely';
import type { Tables } from './schema.js';

/** Appends to the audit log; pass a transaction to make the entry part of the change it records. */
export async function recordAudit(db: Kysely<Tables>, actor: string, action: string, target: string, details: Record<string, unknown>): Promise<void> {
  await db.insertInto('audit_event').values({ actor, action, target, details: JSON.stringify(details) }).execute();
}
