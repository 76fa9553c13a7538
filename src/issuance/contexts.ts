import { contexts as credentialsContexts } from '@digitalbazaar/credentials-context';
import { CONTEXT as MULTIKEY_CONTEXT, CONTEXT_URL as MULTIKEY_CONTEXT_URL } from '@digitalbazaar/multikey-context';
import { contexts as didContexts } from 'did-context';
import { readFileSync } from 'node:fs';
import path from 'node:path';

export const CREDENTIALS_V2 = 'https://www.w3.org/ns/credentials/v2';
export const OPEN_BADGES_V3 = 'https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json';
export const CLR_V2 = 'https://purl.imsglobal.org/spec/clr/v2p0/context-2.0.1.json';
export const DID_V1 = 'https://www.w3.org/ns/did/v1';
export const MULTIKEY_V1 = MULTIKEY_CONTEXT_URL;

/**
 * Every JSON-LD context the tool reads or writes, bundled: signing and verification never fetch
 * one, so they work offline and a credential cannot make the tool call out (no SSRF).
 * The Open Badges 3.0.3 and CLR 2.0.1 contexts are 1EdTech's files, kept verbatim in config/contexts:
 * a signature covers what they say, so they must not be edited (a test pins the CLR file's hash).
 */
let bundled: ReadonlyMap<string, unknown> | undefined;

export function bundledContexts(): ReadonlyMap<string, unknown> {
  bundled ??= load();
  return bundled;
}

function load(): ReadonlyMap<string, unknown> {
  const file = (name: string) => JSON.parse(readFileSync(path.resolve('config/contexts', name), 'utf8')) as unknown;
  return new Map<string, unknown>([
    [CREDENTIALS_V2, credentialsContexts.get(CREDENTIALS_V2)],
    [OPEN_BADGES_V3, file('openbadges-v3p0-context-3.0.3.json')],
    [CLR_V2, file('clr-v2p0-context-2.0.1.json')],
    [DID_V1, didContexts.get(DID_V1)],
    [MULTIKEY_V1, MULTIKEY_CONTEXT],
  ]);
}
