import * as Ed25519Multikey from '@digitalbazaar/ed25519-multikey';
import type { Ed25519KeyPair } from '@digitalbazaar/ed25519-multikey';
import { MULTIKEY_V1 } from '../../src/issuance/contexts.js';

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
