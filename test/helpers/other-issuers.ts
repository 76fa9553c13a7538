import * as Ed25519Multikey from '@digitalbazaar/ed25519-multikey';
import type { Ed25519KeyPair } from '@digitalbazaar/ed25519-multikey';
import { CREDENTIALS_V2, MULTIKEY_V1, OPEN_BADGES_V3 } from '../../src/issuance/contexts.js';
import { identityHash } from '../../src/issuance/credential.js';
import { offlineDocumentLoader } from '../../src/issuance/document-loader.js';
import { signCredential } from '../../src/issuance/signing.js';

/** An issuer outside the tool, as another university would run one. */
export interface OtherIssuer { did: string; pair: Ed25519KeyPair }

/** A did:key issuer with a fresh Ed25519 key: its DID is its public key, so it resolves offline. */
export async function didKeyIssuer(): Promise<OtherIssuer> {
  const { publicKeyMultibase, secretKeyMultibase } = await Ed25519Multikey.generate();
  const did = `did:key:${publicKeyMultibase}`;
  const pair = await Ed25519Multikey.from({ '@context': MULTIKEY_V1, type: 'Multikey', id: `${did}#${publicKeyMultibase}`, controller: did, publicKeyMultibase, secretKeyMultibase });
  return { did, pair };
}

/** Fails the test that calls fetch: the code under test must stay offline. Call inside a describe, or at the top of a file. */
export function forbidNetwork(): void {
  const realFetch = globalThis.fetch;
  let fetches: string[] = [];
  beforeEach(() => {
    fetches = [];
    globalThis.fetch = (async (url: string | URL | Request) => {
      fetches.push(String(url));
      throw new Error('no network in these tests');
    }) as typeof fetch;
  });
  afterEach(() => {
    globalThis.fetch = realFetch;
    expect(fetches).toEqual([]);
  });
}

/** Another university's signed OB 3.0 credential for a learner, 1.5 credits. */
export async function externalCredential(issuer: OtherIssuer, email: string, id: string): Promise<Record<string, unknown>> {
  return signCredential({
    '@context': [CREDENTIALS_V2, OPEN_BADGES_V3],
    id, type: ['VerifiableCredential', 'OpenBadgeCredential'], name: 'Statistik I',
    issuer: { id: issuer.did, type: ['Profile'], name: 'Universität Beispielstadt' },
    validFrom: '2025-07-15T00:00:00Z',
    credentialSubject: {
      type: ['AchievementSubject'],
      identifier: [{ type: 'IdentityObject', hashed: true, identityHash: identityHash(email, 'pfeffer'), identityType: 'emailAddress', salt: 'pfeffer' }],
      achievement: { id: 'https://uni-beispielstadt.example/achievements/stat-1', type: ['Achievement'], achievementType: 'Course', name: 'Statistik I', description: 'Statistik.', criteria: { narrative: 'Klausur bestanden.' }, creditsAvailable: 1.5 },
      creditsEarned: 1.5,
    },
  }, issuer.pair, offlineDocumentLoader());
}
