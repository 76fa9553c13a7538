import { contexts as credentialsContexts } from '@digitalbazaar/credentials-context';
import { CONTEXT as MULTIKEY_CONTEXT, CONTEXT_URL as MULTIKEY_CONTEXT_URL } from '@digitalbazaar/multikey-context';
import { contexts as didContexts } from 'did-context';
import { readFileSync } from 'node:fs';
import path from 'node:path';

export const CREDENTIALS_V2 = 'https://www.w3.org/ns/credentials/v2';
export const OPEN_BADGES_V3 = 'https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json';
export const DID_V1 = 'https://www.w3.org/ns/did/v1';
export const MULTIKEY_V1 = MULTIKEY_CONTEXT_URL;

/**
 * Every JSON-LD context the tool reads or writes, bundled: signing and verification never fetch
 * one, so they work offline and a credential cannot make the tool call out (no SSRF).
 * The Open Badges context is 1EdTech's 3.0.3 file, kept in config/contexts.
 */
let bundled: ReadonlyMap<string, unknown> | undefined;

export function bundledContexts(): ReadonlyMap<string, unknown> {
  bundled ??= load();
  return bundled;
}

function load(): ReadonlyMap<string, unknown> {
  const openBadges = JSON.parse(readFileSync(path.resolve('config/contexts/openbadges-v3p0-context-3.0.3.json'), 'utf8')) as unknown;
  return new Map<string, unknown>([
    [CREDENTIALS_V2, credentialsContexts.get(CREDENTIALS_V2)],
    [OPEN_BADGES_V3, openBadges],
    [DID_V1, didContexts.get(DID_V1)],
    [MULTIKEY_V1, MULTIKEY_CONTEXT],
  ]);
}
