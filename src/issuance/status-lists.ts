import { sql } from 'kysely';
import { randomInt } from 'node:crypto';
import type { Db } from '../db/database.js';
import { STATUS_LIST_BITS, StatusBits, statusListCredential, statusListEntry } from './status-list.js';

/**
 * Status lists in the database. Revocation bits are not stored apart from the credentials: a list's
 * bits are its revoked credentials (course and pathway credentials share an issuer's lists), so the
 * published list can never disagree with them.
 */

export function statusListUrl(publicUrl: string, listId: string): string {
  return `${publicUrl}/status/${listId}`;
}

/** `publicUrl/status/<id>` back to its id; undefined for any other URL. */
export function statusListIdOf(publicUrl: string, url: string): string | undefined {
  const prefix = `${publicUrl}/status/`;
  const id = url.startsWith(prefix) ? url.slice(prefix.length) : '';
  return /^[1-9]\d{0,17}$/.test(id) ? id : undefined;
}

export interface AllocatedEntry {
  listId: string;
  index: number;
  entry: Record<string, unknown>;
}

export class StatusLists {
  constructor(private readonly db: Db, private readonly publicUrl: string) {}

  /**
   * A fresh index in the issuer's current revocation list. One atomic UPDATE per index, so two
   * issuances never get the same bit (a unique constraint backs this up); a full list is followed
   * by a new one.
   */
  async allocate(issuerId: string): Promise<AllocatedEntry> {
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const row = await sql<{ id: string; n: number; multiplier: number; offset: number }>`
        update status_list set allocated = allocated + 1
        where id = (select id from status_list where issuer_id = ${issuerId} and purpose = 'revocation' and allocated < ${STATUS_LIST_BITS} order by id limit 1)
          and allocated < ${STATUS_LIST_BITS}
        returning id::text, allocated - 1 as n, multiplier, "offset"`.execute(this.db);
      const got = row.rows[0];
      if (got) {
        // An odd multiplier and an offset permute 0..2^17-1: unique, and not in issuing order.
        const index = (got.n * got.multiplier + got.offset) % STATUS_LIST_BITS;
        const url = statusListUrl(this.publicUrl, got.id);
        return { listId: got.id, index, entry: statusListEntry(url, index, 'revocation') };
      }
      await this.db.insertInto('status_list').values({ issuer_id: issuerId, purpose: 'revocation', multiplier: randomInt(0, STATUS_LIST_BITS / 2) * 2 + 1, offset: randomInt(0, STATUS_LIST_BITS) }).execute();
    }
    throw new Error('could not allocate a status list index');
  }

  /** Whether the bit of a credential in one of our lists is set; undefined when the list is not ours. */
  async isRevoked(listId: string, index: number): Promise<{ revoked: boolean; revokedAt: Date | null } | undefined> {
    const list = await this.db.selectFrom('status_list').select('id').where('id', '=', listId).executeTakeFirst();
    if (!list) return undefined;
    const row = await this.db.selectFrom('issued_credential').select('revoked_at').where('status_list_id', '=', listId).where('status_index', '=', index)
      .unionAll(this.db.selectFrom('pathway_credential').select('revoked_at').where('status_list_id', '=', listId).where('status_index', '=', index))
      .executeTakeFirst();
    return { revoked: row?.revoked_at != null, revokedAt: row?.revoked_at ?? null };
  }

  /**
   * The list as published: the signed BitstringStatusListCredential, signed again only when a
   * revocation changed it since. Undefined for an unknown list.
   */
  async published(listId: string, sign: (issuerId: string, unsigned: Record<string, unknown>) => Promise<Record<string, unknown>>, issuerDidOf: (issuerId: string) => Promise<string>): Promise<Record<string, unknown> | undefined> {
    const list = await this.db.selectFrom('status_list').selectAll().where('id', '=', listId).executeTakeFirst();
    if (!list) return undefined;
    if (list.signed && list.signed_version === list.version) return list.signed;
    const revoked = await this.db.selectFrom('issued_credential').select('status_index').where('status_list_id', '=', listId).where('revoked_at', 'is not', null)
      .unionAll(this.db.selectFrom('pathway_credential').select('status_index').where('status_list_id', '=', listId).where('revoked_at', 'is not', null))
      .execute();
    const bits = StatusBits.empty();
    for (const r of revoked) bits.set(r.status_index, true);
    const unsigned = statusListCredential({ url: statusListUrl(this.publicUrl, listId), issuer: await issuerDidOf(list.issuer_id), validFrom: new Date().toISOString(), purpose: 'revocation', bits });
    const signed = await sign(list.issuer_id, unsigned);
    // Only if nothing was revoked meanwhile; otherwise the next reader signs the newer list.
    await this.db.updateTable('status_list').set({ signed: JSON.stringify(signed), signed_version: list.version })
      .where('id', '=', listId).where('version', '=', list.version).execute();
    return signed;
  }
}
