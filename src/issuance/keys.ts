import * as Ed25519Multikey from '@digitalbazaar/ed25519-multikey';
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Issuer signing keys: Ed25519 as Multikey. The secret half is stored only sealed with AES-256-GCM
 * under a key derived from the installation's secret (LTI_ENCRYPTION_KEY), and bound to its key id
 * so a sealed secret cannot be moved to another key's record.
 */

export interface IssuerKey {
  /** The verification method id, e.g. did:web:badges.example.ac.jp#key-1. */
  id: string;
  /** The DID that controls it. */
  controller: string;
  publicKeyMultibase: string;
  /** base64url of iv (12 bytes) ‖ tag (16 bytes) ‖ ciphertext of secretKeyMultibase. */
  sealedSecret: string;
}

const IV_BYTES = 12;
const TAG_BYTES = 16;

/** The key that seals issuer secrets: its own derivation of the installation secret, used for nothing else. */
export function sealingKey(installationSecret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', installationSecret, 'microcredential-lti', 'issuer signing keys v1', 32));
}

export function seal(plaintext: string, key: Buffer, boundTo: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(boundTo, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), ciphertext]).toString('base64url');
}

export class UnsealError extends Error {}

export function unseal(sealed: string, key: Buffer, boundTo: string): string {
  const bytes = Buffer.from(sealed, 'base64url');
  if (bytes.length <= IV_BYTES + TAG_BYTES) throw new UnsealError('the sealed key is truncated');
  const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, IV_BYTES));
  decipher.setAAD(Buffer.from(boundTo, 'utf8'));
  decipher.setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
  } catch {
    throw new UnsealError(`the secret of ${boundTo} does not open with this installation's key (wrong LTI_ENCRYPTION_KEY, or altered)`);
  }
}

export async function generateIssuerKey(controller: string, id: string, key: Buffer): Promise<IssuerKey> {
  const pair = await Ed25519Multikey.generate({ id, controller });
  return { id, controller, publicKeyMultibase: pair.publicKeyMultibase, sealedSecret: seal(pair.secretKeyMultibase!, key, id) };
}

/** The key pair that signs, opened from its sealed secret. */
export function openIssuerKey(stored: IssuerKey, key: Buffer): Promise<Ed25519Multikey.Ed25519KeyPair> {
  return Ed25519Multikey.from({
    '@context': 'https://w3id.org/security/multikey/v1',
    type: 'Multikey',
    id: stored.id,
    controller: stored.controller,
    publicKeyMultibase: stored.publicKeyMultibase,
    secretKeyMultibase: unseal(stored.sealedSecret, key, stored.id),
  });
}

/** The public verification method document, as the tool serves it and verification resolves it. */
export function verificationMethod(stored: Pick<IssuerKey, 'id' | 'controller' | 'publicKeyMultibase'>) {
  return { '@context': 'https://w3id.org/security/multikey/v1', id: stored.id, type: 'Multikey', controller: stored.controller, publicKeyMultibase: stored.publicKeyMultibase };
}
