import type { DocumentLoader } from '@digitalbazaar/vc';
import { createHash } from 'node:crypto';
import { DID_V1, MULTIKEY_V1 } from './contexts.js';
import type { OwnDocuments } from './document-loader.js';
import { asList, asObject } from './json-values.js';
import { verificationMethod } from './keys.js';
import { MAX_PROOF_CHECK_BYTES, verifyPresentedCredential, type CheckName } from './verification.js';

/**
 * Checks an OB 3.0 credential from another issuer that a learner or registrar imports. It is
 * verified with the bundled contexts and the loader's documents only: nothing is ever fetched.
 */

/**
 * An issuer outside this tool whose keys we can resolve offline: did:key needs none; any other DID
 * needs its Ed25519 Multikey public keys pinned by an administrator, each under the verification
 * method id its DID document gives it (e.g. did:web:…#key-1), since a proof names its key by that id.
 */
export interface TrustedIssuerKeys {
  did: string;
  keys: Array<{ id: string; publicKeyMultibase: string }>;
}

const DID_KEY = 'did:key:';
const BASE58_ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
/** 'z' and 47 base58 digits: the length of every Ed25519 Multikey (34 bytes starting 0xed). */
const ED25519_MULTIKEY_LENGTH = 48;

function base58btcDecode(text: string): Uint8Array | undefined {
  let n = 0n;
  for (const c of text) {
    const digit = BASE58_ALPHABET.indexOf(c);
    if (digit < 0) return undefined;
    n = n * 58n + BigInt(digit);
  }
  const bytes: number[] = [];
  for (; n > 0n; n >>= 8n) bytes.unshift(Number(n & 0xffn));
  // Each leading '1' is a zero byte.
  const zeros = text.length - text.replace(/^1+/, '').length;
  return Uint8Array.from([...new Array<number>(zeros).fill(0), ...bytes]);
}

/** 'z' (base58btc), the multicodec header of ed25519-pub (0xed 0x01), 32 bytes of key. */
function isEd25519Multikey(value: string): boolean {
  // The length first: a DID from an uploaded credential may be of any size.
  const bytes = value.length === ED25519_MULTIKEY_LENGTH && value.startsWith('z') ? base58btcDecode(value.slice(1)) : undefined;
  return bytes?.length === 34 && bytes[0] === 0xed && bytes[1] === 0x01;
}

/** A did:key names its one key: did:key:<pk>, key id did:key:<pk>#<pk>. */
function didKeyKeys(did: string): TrustedIssuerKeys['keys'] | undefined {
  const publicKeyMultibase = did.slice(DID_KEY.length);
  return isEd25519Multikey(publicKeyMultibase) ? [{ id: `${did}#${publicKeyMultibase}`, publicKeyMultibase }] : undefined;
}

/**
 * Resolves did:key DIDs (Ed25519, z6Mk…) and the pinned keys of other DIDs into DID documents and
 * verification methods, as data-integrity's verifier asks for them. undefined for anything else.
 * Throws for a pinned key that is not an Ed25519 Multikey under its DID: that is a configuration error.
 */
export function externalIssuerDocuments(pinned: readonly TrustedIssuerKeys[]): OwnDocuments {
  const pins = new Map<string, TrustedIssuerKeys['keys']>();
  for (const { did, keys } of pinned) {
    for (const key of keys) {
      if (!key.id.startsWith(`${did}#`) || !isEd25519Multikey(key.publicKeyMultibase)) {
        throw new Error(`the pinned key ${key.id} of ${did} must be an Ed25519 Multikey (z6Mk…) with an id ${did}#…`);
      }
    }
    pins.set(did, [...(pins.get(did) ?? []), ...keys]);
  }
  return async (url) => {
    const did = url.split('#')[0]!;
    const keys = did.startsWith(DID_KEY) ? didKeyKeys(did) : pins.get(did);
    if (!keys?.length) return undefined;
    if (url === did) {
      return {
        '@context': [DID_V1, MULTIKEY_V1],
        id: did,
        verificationMethod: keys.map((k) => ({ id: k.id, type: 'Multikey', controller: did, publicKeyMultibase: k.publicKeyMultibase })),
        assertionMethod: keys.map((k) => k.id),
      };
    }
    const key = keys.find((k) => k.id === url);
    return key ? verificationMethod({ id: key.id, controller: did, publicKeyMultibase: key.publicKeyMultibase }) : undefined;
  };
}

export type ImportRejection = 'not_json' | 'not_object' | 'too_large' | 'contexts_foreign' | 'schema_invalid' | 'unsupported_proof' | 'issuer_unresolvable' | 'proof_invalid' | 'expired' | 'not_yet_valid' | 'own_credential';

export type ExternalCredentialCheck =
  | {
    ok: true;
    issuer: string;
    achievementId: string;
    achievementName: string;
    /** creditsEarned, or else the achievement's creditsAvailable: what an awarded achievement carries. */
    credits?: number;
    validFrom: string;
    validUntil?: string;
    /** false: it names a status list, which is another issuer's and cannot be read offline. */
    statusChecked: false | 'no_status';
    /** SHA-256 (hex) of the credential as canonical JSON (keys sorted): the same upload twice has the same hash. */
    documentHash: string;
  }
  | { ok: false; reason: ImportRejection; detail?: string };

export interface ExternalCredentialDeps {
  /** Offline: the bundled contexts and externalIssuerDocuments(). */
  documentLoader: DocumentLoader;
  isOwnIssuer(did: string): Promise<boolean>;
  now?: Date;
}

const SUPPORTED_PROOF = { type: 'DataIntegrityProof', cryptosuite: 'eddsa-rdfc-2022' };
/** Another issuer's credential may name only bundled contexts: the tool's own extension context is not theirs. */
const NO_OWN_CONTEXTS: ReadonlySet<string> = new Set();

const reject = (reason: ImportRejection, detail?: string): ExternalCredentialCheck => ({ ok: false, reason, ...(detail ? { detail: detail.slice(0, 300) } : {}) });

/** JSON with every object's keys sorted, so that equal documents serialize alike. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const object = asObject(value);
  if (!object) return JSON.stringify(value);
  return `{${Object.keys(object).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(object[k])}`).join(',')}}`;
}

function unsupportedProof(credential: Record<string, unknown>): string | undefined {
  const proofs = asList(credential.proof).map(asObject);
  if (proofs.length === 0) return 'no_proof';
  for (const proof of proofs) {
    if (proof?.type !== SUPPORTED_PROOF.type || proof.cryptosuite !== SUPPORTED_PROOF.cryptosuite) return `${String(proof?.type)} ${String(proof?.cryptosuite)}`;
  }
  return undefined;
}

/** The input is the upload: its text, or the JSON already parsed. */
export async function checkExternalCredential(input: unknown, deps: ExternalCredentialDeps): Promise<ExternalCredentialCheck> {
  let parsed = input;
  if (typeof input === 'string') {
    if (Buffer.byteLength(input) > MAX_PROOF_CHECK_BYTES) return reject('too_large');
    try {
      parsed = JSON.parse(input) as unknown;
    } catch (err) {
      return reject('not_json', (err as Error).message);
    }
  }

  let ownIssuer = false;
  const report = await verifyPresentedCredential(parsed, {
    documentLoader: deps.documentLoader,
    ownContexts: NO_OWN_CONTEXTS,
    // Our own credentials are the caller's to handle, so their proof is not checked here; another
    // issuer resolves when the loader holds its DID document.
    canResolveIssuer: async (did) => {
      ownIssuer = await deps.isOwnIssuer(did);
      return !ownIssuer && (await deps.documentLoader(did).then(() => true, () => false));
    },
    // Another issuer's status list cannot be read offline.
    statusOf: async () => undefined,
    ...(deps.now ? { now: deps.now } : {}),
  });
  const check = (name: CheckName) => report.checks.find((c) => c.check === name);

  const credential = asObject(parsed);
  if (!credential) return reject('not_object');
  const proof = check('proof')!;
  if (proof.detail === 'too_large') return reject('too_large');
  if (ownIssuer) return reject('own_credential');
  const contexts = check('contexts')!;
  if (contexts.outcome !== 'passed') return reject('contexts_foreign', contexts.params?.urls ?? contexts.detail);
  const schema = check('schema')!;
  if (schema.outcome !== 'passed') return reject('schema_invalid', `${schema.params?.path ?? '/'}: ${schema.params?.error ?? ''}`);
  const unsupported = unsupportedProof(credential);
  if (unsupported) return reject('unsupported_proof', unsupported);
  if (check('issuer')!.outcome !== 'passed') return reject('issuer_unresolvable', report.credential?.issuer);
  if (proof.outcome !== 'passed') return reject('proof_invalid', proof.params?.error);
  // Only a malformed entry fails here: no list answers.
  const status = check('status')!;
  if (status.outcome === 'failed') return reject('schema_invalid', status.detail);
  const validity = check('validity')!;
  if (validity.outcome !== 'passed') {
    return validity.detail === 'expired' ? reject('expired', validity.params?.validUntil)
      : validity.detail === 'not_yet_valid' ? reject('not_yet_valid', validity.params?.validFrom)
        : reject('schema_invalid', validity.detail);
  }

  // The schema passed: the issuer, the achievement with its id and name, and validFrom are there.
  const subject = asObject(credential.credentialSubject)!;
  const achievement = asObject(subject.achievement)!;
  const credits = [subject.creditsEarned, achievement.creditsAvailable].find((c): c is number => typeof c === 'number');
  return {
    ok: true,
    issuer: report.credential!.issuer!,
    achievementId: achievement.id as string,
    achievementName: achievement.name as string,
    ...(credits !== undefined ? { credits } : {}),
    validFrom: credential.validFrom as string,
    ...(typeof credential.validUntil === 'string' ? { validUntil: credential.validUntil } : {}),
    statusChecked: status.detail === 'no_status' ? 'no_status' : false,
    documentHash: createHash('sha256').update(canonicalJson(credential), 'utf8').digest('hex'),
  };
}
