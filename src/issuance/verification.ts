import Ajv2019 from 'ajv/dist/2019.js';
import addFormats from 'ajv-formats';
import type { DocumentLoader } from '@digitalbazaar/vc';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { bundledContexts } from './contexts.js';
import { asList, asObject } from './json-values.js';
import { verifyProof } from './signing.js';

/**
 * Checks a presented credential, one verdict per check. Nothing outside the bundled contexts and
 * the documents the loader holds (the tool's own, or pinned issuers' keys) is resolved: anything
 * else is reported as unresolvable, never fetched.
 */

export type CheckName = 'format' | 'contexts' | 'schema' | 'proof' | 'issuer' | 'status' | 'validity';
export type CheckOutcome = 'passed' | 'failed' | 'unresolvable' | 'skipped';
export interface Check {
  check: CheckName;
  outcome: CheckOutcome;
  /** An i18n key under "verify.detail." and its values, so the page and API can say it in ja or en. */
  detail: string;
  params?: Record<string, string>;
}
export type Verdict = 'valid' | 'invalid' | 'revoked' | 'expired' | 'unverifiable';
export interface VerificationReport {
  verdict: Verdict;
  checks: Check[];
  credential?: { id?: string; name?: string; issuer?: string; validFrom?: string; validUntil?: string; achievement?: string };
}

export interface VerificationDeps {
  documentLoader: DocumentLoader;
  /** Our own URLs that are not bundled contexts but may be named in @context (the extension context). */
  ownContexts: ReadonlySet<string>;
  /** Whether the loader resolves this DID's keys: the verify page resolves only the tool's own issuers. Otherwise the proof is not checked. */
  canResolveIssuer(did: string): Promise<boolean>;
  /** The status of a credential's entry in one of our lists; undefined for a list that is not ours. */
  statusOf(listUrl: string, index: number): Promise<{ revoked: boolean } | undefined>;
  now?: Date;
}

/** Far above any credential this tool issues (about 6 KiB); canonicalizing more would hold the event loop for seconds. */
export const MAX_PROOF_CHECK_BYTES = 256 * 1024;

const schema = JSON.parse(readFileSync(path.resolve('config/schemas/ob_v3p0_achievementcredential.schema.json'), 'utf8')) as object;
const ajv = new Ajv2019.default({ allErrors: false, strict: false });
addFormats.default(ajv);
const validateAchievementCredential = ajv.compile(schema);

const idOf = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof asObject(v)?.id === 'string' ? (asObject(v)!.id as string) : undefined);

/** Parses what was pasted or extracted; a verdict instead of an exception for anything malformed. */
export function parseCredentialText(text: string): { credential: unknown } | { report: VerificationReport } {
  try {
    return { credential: JSON.parse(text) as unknown };
  } catch (err) {
    return { report: { verdict: 'invalid', checks: [{ check: 'format', outcome: 'failed', detail: 'not_json', params: { error: (err as Error).message.slice(0, 200) } }] } };
  }
}

export async function verifyPresentedCredential(input: unknown, deps: VerificationDeps): Promise<VerificationReport> {
  const now = deps.now ?? new Date();
  const credential = asObject(input);
  if (!credential) return { verdict: 'invalid', checks: [{ check: 'format', outcome: 'failed', detail: 'not_object' }] };
  const checks: Check[] = [{ check: 'format', outcome: 'passed', detail: 'json_object' }];
  const subject = asObject(credential.credentialSubject);
  const summary = {
    ...(typeof credential.id === 'string' ? { id: credential.id } : {}),
    ...(typeof credential.name === 'string' ? { name: credential.name } : {}),
    ...(idOf(credential.issuer) ? { issuer: idOf(credential.issuer)! } : {}),
    ...(typeof credential.validFrom === 'string' ? { validFrom: credential.validFrom } : {}),
    ...(typeof credential.validUntil === 'string' ? { validUntil: credential.validUntil } : {}),
    ...(typeof asObject(subject?.achievement)?.name === 'string' ? { achievement: asObject(subject!.achievement)!.name as string } : {}),
  };

  const contexts = asList(credential['@context']);
  const foreign = contexts.filter((c) => typeof c !== 'string' || !(bundledContexts().has(c) || deps.ownContexts.has(c)));
  const contextsKnown = foreign.length === 0 && contexts.length > 0;
  checks.push(contextsKnown
    ? { check: 'contexts', outcome: 'passed', detail: 'contexts_bundled' }
    : contexts.length === 0
      ? { check: 'contexts', outcome: 'failed', detail: 'no_context' }
      : { check: 'contexts', outcome: 'unresolvable', detail: 'contexts_foreign', params: { urls: foreign.map((c) => (typeof c === 'string' ? c : 'an embedded context')).join(', ').slice(0, 500) } });

  const schemaValid = validateAchievementCredential(credential);
  const schemaError = validateAchievementCredential.errors?.[0];
  checks.push(schemaValid
    ? { check: 'schema', outcome: 'passed', detail: 'schema_valid' }
    : { check: 'schema', outcome: 'failed', detail: 'schema_invalid', params: { path: schemaError?.instancePath || '/', error: schemaError?.message ?? 'invalid' } });

  const issuer = idOf(credential.issuer);
  const issuerResolvable = issuer !== undefined && (await deps.canResolveIssuer(issuer));
  checks.push(issuer === undefined
    ? { check: 'issuer', outcome: 'failed', detail: 'no_issuer' }
    : issuerResolvable
      ? { check: 'issuer', outcome: 'passed', detail: 'issuer_known', params: { issuer } }
      : { check: 'issuer', outcome: 'unresolvable', detail: 'issuer_foreign', params: { issuer: issuer.slice(0, 300) } });

  const size = Buffer.byteLength(JSON.stringify(credential));
  if (size > MAX_PROOF_CHECK_BYTES) {
    checks.push({ check: 'proof', outcome: 'failed', detail: 'too_large', params: { kib: String(Math.ceil(size / 1024)), max: String(MAX_PROOF_CHECK_BYTES / 1024) } });
  } else if (contextsKnown && issuerResolvable) {
    // Dates are judged on their own below, so the proof is checked as of the credential's validFrom.
    const asOf = typeof credential.validFrom === 'string' && !Number.isNaN(Date.parse(credential.validFrom)) ? new Date(credential.validFrom) : now;
    const proof = await verifyProof(credential, deps.documentLoader, asOf);
    checks.push(proof.verified
      ? { check: 'proof', outcome: 'passed', detail: 'proof_valid' }
      : { check: 'proof', outcome: 'failed', detail: 'proof_invalid', params: { error: (proof.error ?? '').slice(0, 300) } });
  } else {
    checks.push({ check: 'proof', outcome: 'skipped', detail: 'proof_not_checked' });
  }

  checks.push(await statusCheck(credential, deps));
  checks.push(validityCheck(credential, now));

  const outcome = (name: CheckName) => checks.find((c) => c.check === name)!.outcome;
  const failed = checks.some((c) => c.outcome === 'failed' && c.check !== 'status' && c.check !== 'validity');
  const verdict: Verdict = failed ? 'invalid'
    : checks.some((c) => c.outcome === 'unresolvable' || c.outcome === 'skipped') ? 'unverifiable'
      : outcome('status') === 'failed' ? 'revoked'
        : outcome('validity') === 'failed' ? 'expired' : 'valid';
  return { verdict, checks, credential: summary };
}

async function statusCheck(credential: Record<string, unknown>, deps: VerificationDeps): Promise<Check> {
  const entries = asList(credential.credentialStatus).map(asObject);
  if (entries.length === 0) return { check: 'status', outcome: 'passed', detail: 'no_status' };
  for (const entry of entries) {
    const listUrl = entry?.statusListCredential;
    const index = Number(entry?.statusListIndex);
    if (entry?.type !== 'BitstringStatusListEntry' || typeof listUrl !== 'string' || !Number.isInteger(index) || index < 0) {
      return { check: 'status', outcome: 'failed', detail: 'status_malformed' };
    }
    if (entry.statusPurpose !== 'revocation') continue;
    const status = await deps.statusOf(listUrl, index);
    if (!status) return { check: 'status', outcome: 'unresolvable', detail: 'status_foreign', params: { url: listUrl.slice(0, 300) } };
    if (status.revoked) return { check: 'status', outcome: 'failed', detail: 'revoked' };
  }
  return { check: 'status', outcome: 'passed', detail: 'not_revoked' };
}

function validityCheck(credential: Record<string, unknown>, now: Date): Check {
  const from = typeof credential.validFrom === 'string' ? Date.parse(credential.validFrom) : NaN;
  const until = typeof credential.validUntil === 'string' ? Date.parse(credential.validUntil) : undefined;
  if (Number.isNaN(from) || Number.isNaN(until)) return { check: 'validity', outcome: 'failed', detail: 'dates_malformed' };
  if (from > now.getTime()) return { check: 'validity', outcome: 'failed', detail: 'not_yet_valid', params: { validFrom: String(credential.validFrom) } };
  if (until !== undefined && until <= now.getTime()) return { check: 'validity', outcome: 'failed', detail: 'expired', params: { validUntil: String(credential.validUntil) } };
  return { check: 'validity', outcome: 'passed', detail: 'in_validity' };
}
