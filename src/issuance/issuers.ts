import type { Selectable } from 'kysely';
import type { Ed25519KeyPair } from '@digitalbazaar/ed25519-multikey';
import { randomBytes, scryptSync } from 'node:crypto';
import { z } from 'zod';
import { recordAudit } from '../db/audit.js';
import type { Db } from '../db/database.js';
import type { Tables } from '../db/schema.js';
import { zodErrors } from '../criteria/index.js';
import type { FieldError } from '../credentials/definition-schema.js';
import { DID_V1, MULTIKEY_V1, OPEN_BADGES_V3, CREDENTIALS_V2 } from './contexts.js';
import { extensionContext, issuerProfile, type IssuerProfile } from './credential.js';
import type { OwnDocuments } from './document-loader.js';
import { generateIssuerKey, openIssuerKey, seal, unseal, verificationMethod, type IssuerKey } from './keys.js';

/**
 * Issuer profiles and their keys. Each issuer is did:web:<host>:issuers:<slug>, whose DID document
 * the tool serves at /issuers/<slug>/did.json, listing every key it ever signed with, so that a
 * credential signed before a rotation still verifies.
 */

export type ProfileRow = Selectable<Tables['issuer_profile']>;

export const issuerInput = z.object({
  slug: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and hyphens, at most 63, e.g. faculty-of-science'),
  name: z.string().trim().min(1).max(200),
  url: z.string().url().refine((u) => /^https?:\/\//.test(u), 'an http(s) URL').optional(),
  email: z.string().email().optional(),
  description: z.string().max(2000).optional(),
  imageUrl: z.string().url().refine((u) => /^https:\/\//.test(u), 'an https URL').optional(),
  countryCode: z.string().regex(/^[A-Z]{2}$/, 'an ISO 3166-1 alpha-2 code in capitals, e.g. JP').optional(),
}).strict();
export type IssuerInput = z.infer<typeof issuerInput>;
/** An edit: everything but the slug, which is part of the DID and never changes. */
export const issuerEdit = issuerInput.omit({ slug: true });

/** The message of the field error for a slug that another issuer has. */
export const SLUG_TAKEN = 'an issuer with this slug exists already; choose another slug';

export class IssuerNotFoundError extends Error {}

/** did:web encodes a port's colon as %3A; the path segments follow as colon-separated parts. */
export function issuerDid(publicUrl: string, slug: string): string {
  return `did:web:${encodeURIComponent(new URL(publicUrl).host)}:issuers:${slug}`;
}

export function issuerUrls(publicUrl: string, slug: string) {
  return { did: issuerDid(publicUrl, slug), didDocument: `${publicUrl}/issuers/${slug}/did.json`, profile: `${publicUrl}/issuers/${slug}` };
}

/** The key backup file: every issuer and key, secrets sealed under a passphrase instead of the installation key. */
const backupSchema = z.object({
  format: z.literal('microcredential-issuer-keys/v1'),
  salt: z.string(),
  issuers: z.array(z.object({
    profile: issuerInput.extend({ isDefault: z.boolean() }),
    keys: z.array(z.object({ id: z.string(), publicKeyMultibase: z.string(), sealedSecret: z.string(), createdAt: z.string(), retiredAt: z.string().nullable() })),
  })),
});
export type KeyBackup = z.infer<typeof backupSchema>;

function passphraseKey(passphrase: string, salt: string): Buffer {
  return scryptSync(passphrase, Buffer.from(salt, 'base64url'), 32, { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
}

const CACHE_MS = 30_000;

export class IssuerService {
  /** Opened signing keys by key id; secrets live unsealed only here, in memory. */
  private readonly signers = new Map<string, Promise<Ed25519KeyPair>>();
  private readonly documents = new Map<string, { at: number; document: Promise<unknown> }>();
  private readonly extension: ReturnType<typeof extensionContext>;

  constructor(private readonly db: Db, private readonly publicUrl: string, private readonly sealing: Buffer) {
    this.extension = extensionContext(publicUrl);
  }

  async list(): Promise<Array<ProfileRow & { did: string; keys: Array<Selectable<Tables['issuer_key']>> }>> {
    const profiles = await this.db.selectFrom('issuer_profile').selectAll().orderBy('created_at').execute();
    const keys = await this.db.selectFrom('issuer_key').selectAll().orderBy('created_at').execute();
    return profiles.map((p) => ({ ...p, did: issuerDid(this.publicUrl, p.slug), keys: keys.filter((k) => k.issuer_id === p.id) }));
  }

  async create(input: unknown, actor: string, isDefault = false): Promise<{ ok: true; issuer: ProfileRow } | { ok: false; errors: FieldError[] }> {
    const parsed = issuerInput.safeParse(input);
    if (!parsed.success) return { ok: false, errors: zodErrors(parsed.error) };
    const v = parsed.data;
    const taken = await this.db.selectFrom('issuer_profile').select('id').where('slug', '=', v.slug).executeTakeFirst();
    if (taken) return { ok: false, errors: [{ path: '/slug', message: SLUG_TAKEN }] };
    const did = issuerDid(this.publicUrl, v.slug);
    const key = await generateIssuerKey(did, `${did}#key-1`, this.sealing);
    const issuer = await this.db.transaction().execute(async (trx) => {
      const row = await trx.insertInto('issuer_profile').values({
        slug: v.slug, name: v.name, url: v.url ?? null, email: v.email ?? null, description: v.description ?? null,
        image_url: v.imageUrl ?? null, country_code: v.countryCode ?? null, is_default: isDefault,
      }).returningAll().executeTakeFirstOrThrow();
      await trx.insertInto('issuer_key').values({ id: key.id, issuer_id: row.id, public_key_multibase: key.publicKeyMultibase, sealed_secret: key.sealedSecret }).execute();
      await recordAudit(trx, actor, 'issuer.created', did, { name: v.name, keyId: key.id });
      return row;
    });
    return { ok: true, issuer };
  }

  /** Replaces an issuer's profile fields; an omitted optional field is cleared. */
  async update(slug: string, input: unknown, actor: string): Promise<{ ok: true; issuer: ProfileRow } | { ok: false; errors: FieldError[] }> {
    const parsed = issuerEdit.safeParse(input);
    if (!parsed.success) return { ok: false, errors: zodErrors(parsed.error) };
    const v = parsed.data;
    const did = issuerDid(this.publicUrl, slug);
    const issuer = await this.db.transaction().execute(async (trx) => {
      const row = await trx.updateTable('issuer_profile').set({
        name: v.name, url: v.url ?? null, email: v.email ?? null, description: v.description ?? null,
        image_url: v.imageUrl ?? null, country_code: v.countryCode ?? null,
      }).where('slug', '=', slug).returningAll().executeTakeFirst();
      if (!row) throw new IssuerNotFoundError(`no issuer "${slug}"`);
      await recordAudit(trx, actor, 'issuer.updated', did, v);
      return row;
    });
    return { ok: true, issuer };
  }

  /** An issuer's keys, newest first, without their sealed secrets. */
  async keysOf(issuerId: string): Promise<Array<{ id: string; createdAt: Date; retiredAt: Date | null }>> {
    const rows = await this.db.selectFrom('issuer_key').select(['id', 'created_at', 'retired_at']).where('issuer_id', '=', issuerId).orderBy('created_at', 'desc').execute();
    return rows.map((k) => ({ id: k.id, createdAt: k.created_at, retiredAt: k.retired_at }));
  }

  /** The installation's own issuer, made on first start so that a fresh install can issue at once. */
  async ensureDefault(name: string): Promise<ProfileRow> {
    const existing = await this.db.selectFrom('issuer_profile').selectAll().where('is_default', '=', true).executeTakeFirst();
    if (existing) return existing;
    const created = await this.create({ slug: 'default', name }, 'system', true);
    if (created.ok) return created.issuer;
    // Another instance made it first.
    return this.db.selectFrom('issuer_profile').selectAll().where('is_default', '=', true).executeTakeFirstOrThrow();
  }

  async bySlug(slug: string): Promise<ProfileRow> {
    const row = await this.db.selectFrom('issuer_profile').selectAll().where('slug', '=', slug).executeTakeFirst();
    if (!row) throw new IssuerNotFoundError(`no issuer "${slug}"`);
    return row;
  }

  async byId(id: string): Promise<ProfileRow> {
    return this.db.selectFrom('issuer_profile').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  }

  async defaultIssuer(): Promise<ProfileRow> {
    const row = await this.db.selectFrom('issuer_profile').selectAll().where('is_default', '=', true).executeTakeFirst();
    if (!row) throw new IssuerNotFoundError('this installation has no default issuer yet');
    return row;
  }

  /** The issuer as credentials name it. */
  profileOf(row: ProfileRow): IssuerProfile {
    return {
      id: issuerDid(this.publicUrl, row.slug), name: row.name,
      ...(row.url ? { url: row.url } : {}), ...(row.email ? { email: row.email } : {}),
      ...(row.description ? { description: row.description } : {}), ...(row.country_code ? { countryCode: row.country_code } : {}),
    };
  }

  /** The OB 3.0 Profile served at the issuer's URL. */
  publicProfile(row: ProfileRow): Record<string, unknown> {
    return {
      '@context': [CREDENTIALS_V2, OPEN_BADGES_V3],
      ...issuerProfile(this.profileOf(row)),
      ...(row.image_url ? { image: { id: row.image_url, type: 'Image' } } : {}),
    };
  }

  /** Whether a DID is one of this installation's issuers. */
  async isOwnIssuer(did: string): Promise<boolean> {
    const prefix = issuerDid(this.publicUrl, '');
    const slug = did.startsWith(prefix) ? did.slice(prefix.length) : '';
    if (!issuerInput.shape.slug.safeParse(slug).success) return false;
    return (await this.db.selectFrom('issuer_profile').select('id').where('slug', '=', slug).executeTakeFirst()) !== undefined;
  }

  async didDocument(row: ProfileRow): Promise<Record<string, unknown>> {
    const did = issuerDid(this.publicUrl, row.slug);
    const keys = await this.db.selectFrom('issuer_key').select(['id', 'public_key_multibase']).where('issuer_id', '=', row.id).orderBy('created_at').execute();
    const methods = keys.map((k) => verificationMethod({ id: k.id, controller: did, publicKeyMultibase: k.public_key_multibase }));
    return {
      '@context': [DID_V1, MULTIKEY_V1],
      id: did,
      verificationMethod: methods.map(({ '@context': _context, ...m }) => m),
      // Retired keys stay: they made credentials that must keep verifying.
      assertionMethod: keys.map((k) => k.id),
    };
  }

  /** The key that signs for an issuer now. */
  async currentKey(issuerId: string): Promise<{ id: string; pair: Promise<Ed25519KeyPair> }> {
    const row = await this.db.selectFrom('issuer_key').selectAll().where('issuer_id', '=', issuerId).where('retired_at', 'is', null).executeTakeFirstOrThrow();
    let pair = this.signers.get(row.id);
    if (!pair) {
      const controller = row.id.split('#')[0]!;
      pair = openIssuerKey({ id: row.id, controller, publicKeyMultibase: row.public_key_multibase, sealedSecret: row.sealed_secret }, this.sealing);
      pair.catch(() => this.signers.delete(row.id));
      this.signers.set(row.id, pair);
    }
    return { id: row.id, pair };
  }

  /** Retires the signing key and makes a new one; credentials signed with the old key still verify. */
  async rotateKey(slug: string, actor: string): Promise<{ retired: string; current: string }> {
    const issuer = await this.bySlug(slug);
    const did = issuerDid(this.publicUrl, slug);
    return this.db.transaction().execute(async (trx) => {
      const keys = await trx.selectFrom('issuer_key').select(['id', 'retired_at']).where('issuer_id', '=', issuer.id).forUpdate().execute();
      const current = keys.find((k) => k.retired_at === null)!;
      const next = Math.max(...keys.map((k) => Number(k.id.split('#key-')[1]) || 0)) + 1;
      const key = await generateIssuerKey(did, `${did}#key-${next}`, this.sealing);
      await trx.updateTable('issuer_key').set({ retired_at: new Date() }).where('id', '=', current.id).execute();
      await trx.insertInto('issuer_key').values({ id: key.id, issuer_id: issuer.id, public_key_multibase: key.publicKeyMultibase, sealed_secret: key.sealedSecret }).execute();
      await recordAudit(trx, actor, 'issuer.key_rotated', did, { retired: current.id, current: key.id });
      this.documents.clear();
      return { retired: current.id, current: key.id };
    });
  }

  /**
   * The tool's own documents for the offline loader: its issuers' DID documents and keys, and the
   * extension context. Anything else is undefined, and so never resolved.
   */
  readonly ownDocuments: OwnDocuments = (url) => {
    if (url === this.extension.url) return Promise.resolve(this.extension.document);
    const prefix = issuerDid(this.publicUrl, '');
    if (!url.startsWith(prefix)) return Promise.resolve(undefined);
    const cached = this.documents.get(url);
    if (cached && Date.now() - cached.at < CACHE_MS) return cached.document;
    const document = this.resolveDid(url.slice(prefix.length));
    document.catch(() => this.documents.delete(url));
    this.documents.set(url, { at: Date.now(), document });
    return document;
  };

  private async resolveDid(rest: string): Promise<unknown> {
    const [slug, fragment] = rest.split('#');
    const issuer = await this.db.selectFrom('issuer_profile').selectAll().where('slug', '=', slug!).executeTakeFirst();
    if (!issuer) return undefined;
    const document = await this.didDocument(issuer);
    if (fragment === undefined) return document;
    const method = (document.verificationMethod as Array<{ id: string }>).find((m) => m.id.endsWith(`#${fragment}`));
    return method && { '@context': MULTIKEY_V1, ...method };
  }

  /** Every issuer and key, with the secrets re-sealed under a passphrase: a backup that survives losing LTI_ENCRYPTION_KEY. */
  async exportKeys(passphrase: string, actor: string): Promise<KeyBackup> {
    const salt = randomBytes(16).toString('base64url');
    const backupKey = passphraseKey(passphrase, salt);
    const issuers = (await this.list()).map((p) => ({
      profile: {
        slug: p.slug, name: p.name, isDefault: p.is_default,
        ...(p.url ? { url: p.url } : {}), ...(p.email ? { email: p.email } : {}), ...(p.description ? { description: p.description } : {}),
        ...(p.image_url ? { imageUrl: p.image_url } : {}), ...(p.country_code ? { countryCode: p.country_code } : {}),
      },
      keys: p.keys.map((k) => ({
        id: k.id, publicKeyMultibase: k.public_key_multibase,
        sealedSecret: seal(unseal(k.sealed_secret, this.sealing, k.id), backupKey, k.id),
        createdAt: k.created_at.toISOString(), retiredAt: k.retired_at?.toISOString() ?? null,
      })),
    }));
    await recordAudit(this.db, actor, 'issuer.keys_exported', 'issuers', { issuers: issuers.length });
    return { format: 'microcredential-issuer-keys/v1', salt, issuers };
  }

  /**
   * Restores a backup into this installation: issuers that do not exist yet are created with their
   * keys; an issuer that exists gets the keys it lacks. The DIDs must belong to this PUBLIC_URL.
   */
  async importKeys(backup: unknown, passphrase: string, actor: string): Promise<{ issuers: number; keys: number }> {
    const parsed = backupSchema.safeParse(backup);
    if (!parsed.success) throw new KeyImportError(`the file is not a key backup of this tool (${zodErrors(parsed.error).map((e) => `${e.path}: ${e.message}`).join('; ')})`);
    const backupKey = passphraseKey(passphrase, parsed.data.salt);
    const rows: Array<{ issuer: KeyBackup['issuers'][number]; keys: IssuerKey[] }> = parsed.data.issuers.map((issuer) => {
      const did = issuerDid(this.publicUrl, issuer.profile.slug);
      return {
        issuer,
        keys: issuer.keys.map((k) => {
          if (!k.id.startsWith(`${did}#`)) throw new KeyImportError(`key ${k.id} does not belong to ${did}: the backup was made for another PUBLIC_URL`);
          let secret: string;
          try {
            secret = unseal(k.sealedSecret, backupKey, k.id);
          } catch {
            throw new KeyImportError('the passphrase does not open this backup');
          }
          return { id: k.id, controller: did, publicKeyMultibase: k.publicKeyMultibase, sealedSecret: seal(secret, this.sealing, k.id) };
        }),
      };
    });
    return this.db.transaction().execute(async (trx) => {
      let keys = 0;
      for (const { issuer, keys: issuerKeys } of rows) {
        const { isDefault, ...profile } = issuer.profile;
        let row = await trx.selectFrom('issuer_profile').select('id').where('slug', '=', profile.slug).executeTakeFirst();
        row ??= await trx.insertInto('issuer_profile').values({
          slug: profile.slug, name: profile.name, url: profile.url ?? null, email: profile.email ?? null, description: profile.description ?? null,
          image_url: profile.imageUrl ?? null, country_code: profile.countryCode ?? null,
          is_default: isDefault && !(await trx.selectFrom('issuer_profile').select('id').where('is_default', '=', true).executeTakeFirst()),
        }).returning('id').executeTakeFirstOrThrow();
        const have = new Map((await trx.selectFrom('issuer_key').select(['id', 'public_key_multibase']).where('issuer_id', '=', row.id).execute()).map((k) => [k.id, k.public_key_multibase]));
        // Same id, other key pair: this installation made its own at its first start. Skipping it would leave the backup's credentials unverifiable.
        const clash = issuerKeys.find((k) => have.has(k.id) && have.get(k.id) !== k.publicKeyMultibase);
        if (clash) throw new KeyImportError(`${clash.id} exists here with another key pair, made when this installation first started; nothing was imported. Restore the backup into a new database before the tool first starts on it (docs/deploy.md, "Restore drill")`);
        const hasCurrent = (await trx.selectFrom('issuer_key').select('id').where('issuer_id', '=', row.id).where('retired_at', 'is', null).executeTakeFirst()) !== undefined;
        for (const [i, key] of issuerKeys.entries()) {
          if (have.has(key.id)) continue;
          const retiredAt = issuer.keys[i]!.retiredAt;
          await trx.insertInto('issuer_key').values({
            id: key.id, issuer_id: row.id, public_key_multibase: key.publicKeyMultibase, sealed_secret: key.sealedSecret,
            created_at: new Date(issuer.keys[i]!.createdAt),
            // An issuer that signs already keeps its current key; imported ones join as retired.
            retired_at: retiredAt ? new Date(retiredAt) : hasCurrent ? new Date() : null,
          }).execute();
          keys += 1;
        }
      }
      await recordAudit(trx, actor, 'issuer.keys_imported', 'issuers', { issuers: rows.length, keys });
      this.documents.clear();
      return { issuers: rows.length, keys };
    });
  }
}

export class KeyImportError extends Error {}
