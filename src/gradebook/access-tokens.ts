import { createPrivateKey, randomUUID, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import type { LtijsProvider } from 'ltijs';
import { z } from 'zod';
import { PlatformNotFoundError } from '../lti/platforms.js';
import { GradebookError, pathOf } from './errors.js';
import { errorForStatus, parseJsonBody, validated, type CallContext, type PlatformHttp } from './service-http.js';

/** What the tool needs to ask one platform for access tokens (IMS Security Framework §4.1). */
export interface PlatformCredentials {
  issuer: string;
  clientId: string;
  tokenUrl: string;
  /** The client assertion's `aud`: the authorization server if the platform named one, else the token URL. */
  audience: string;
  /** Of the tool's key for this platform, published in the tool's JWKS. */
  kid: string;
  privateKey: KeyObject;
}

export async function loadPlatformCredentials(lti: LtijsProvider, issuer: string, clientId: string): Promise<PlatformCredentials> {
  const platform = await lti.getPlatform(issuer, clientId);
  if (!platform) throw new PlatformNotFoundError(`No platform is registered with issuer ${issuer} and client id ${clientId}.`);
  const [tokenUrl, audience, kid, pem] = await Promise.all([
    platform.platformAccessTokenEndpoint(),
    platform.platformAuthorizationServer(),
    platform.platformKid(),
    platform.platformPrivateKey(),
  ]);
  // ltijs keeps pkcs1 PEM, which jose's importPKCS8 refuses; a KeyObject reads either.
  return { issuer, clientId, tokenUrl, audience, kid, privateKey: createPrivateKey(pem) };
}

const CLIENT_ASSERTION_LIFETIME_S = 60;
const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** RFC 7523 client assertion: iss = sub = client id, aud = the platform's authorization server, single-use jti. */
export function createClientAssertion(credentials: PlatformCredentials, now: number = Date.now()): Promise<string> {
  const iat = Math.floor(now / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: credentials.kid })
    .setIssuer(credentials.clientId)
    .setSubject(credentials.clientId)
    .setAudience(credentials.audience)
    .setIssuedAt(iat)
    .setExpirationTime(iat + CLIENT_ASSERTION_LIFETIME_S)
    .setJti(randomUUID())
    .sign(credentials.privateKey);
}

const tokenAnswer = z.looseObject({
  access_token: z.string().min(1),
  token_type: z.string().optional(),
  // Some platforms send the number as a string.
  expires_in: z.union([z.number().positive(), z.string().regex(/^\d+$/).transform(Number)]).optional(),
  scope: z.string().optional(),
});

const tokenError = z.looseObject({ error: z.string(), error_description: z.string().optional() });

/** RFC 6749 says expires_in is only recommended; a token that dies sooner is replaced after its first 401. */
const ASSUMED_LIFETIME_S = 3600;

interface CachedToken {
  accessToken: string;
  /** Epoch ms after which the token is no longer handed out. */
  usableUntil: number;
}

/**
 * Access tokens for one platform, per set of scopes, kept until shortly before they expire. Callers
 * asking for the same scopes while a token request is under way share that request.
 */
export class AccessTokenCache {
  private readonly tokens = new Map<string, CachedToken>();
  private readonly pending = new Map<string, Promise<CachedToken>>();

  /** `expiryMarginMs`: how long before its expiry a token is replaced, at most half its lifetime. */
  constructor(
    private readonly http: PlatformHttp,
    private readonly expiryMarginMs: number,
  ) {}

  async get(credentials: PlatformCredentials, scopes: readonly string[], call: CallContext): Promise<string> {
    const scopeSet = [...new Set(scopes)].sort();
    const key = [credentials.issuer, credentials.clientId, scopeSet.join(' ')].join('\n');
    const cached = this.tokens.get(key);
    if (cached && cached.usableUntil > Date.now()) return cached.accessToken;
    let pending = this.pending.get(key);
    if (!pending) {
      // Shared by every caller waiting for this key, so it does not stop when one caller's read is cancelled.
      pending = this.request(credentials, scopeSet, key, { stats: call.stats }).finally(() => this.pending.delete(key));
      this.pending.set(key, pending);
    }
    return (await pending).accessToken;
  }

  /** Drops a token the platform refused, unless it was already replaced. */
  invalidate(accessToken: string): void {
    for (const [key, token] of this.tokens) if (token.accessToken === accessToken) this.tokens.delete(key);
  }

  private async request(credentials: PlatformCredentials, scopes: string[], key: string, call: CallContext): Promise<CachedToken> {
    const { tokenUrl } = credentials;
    const requestedAt = Date.now();
    const answer = await this.http.send(async () => ({
      method: 'POST',
      url: tokenUrl,
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_assertion_type: CLIENT_ASSERTION_TYPE,
        client_assertion: await createClientAssertion(credentials),
        scope: scopes.join(' '),
      }).toString(),
    }), call);
    if (answer.status !== 200) {
      if (answer.status !== 400 && answer.status !== 401) throw errorForStatus(answer, tokenUrl, `token request refused with HTTP ${answer.status}`);
      const refusal = tokenError.safeParse(safeJson(answer.body));
      const detail = refusal.success ? [refusal.data.error, refusal.data.error_description?.slice(0, 200)].filter(Boolean).join(': ') : `HTTP ${answer.status}`;
      throw new GradebookError('unauthorized', pathOf(tokenUrl), answer.attempts, answer.status, `token request refused (${detail})`);
    }
    // Moodle labels this JSON text/html, so the Content-Type is not consulted.
    const token = validated(tokenAnswer, parseJsonBody(answer, tokenUrl), tokenUrl, answer);
    if (token.token_type !== undefined && token.token_type.toLowerCase() !== 'bearer') {
      throw new GradebookError('bad_response', pathOf(tokenUrl), answer.attempts, answer.status, `token_type ${token.token_type} is not Bearer`);
    }
    // Moodle narrows the request to the granted scopes instead of refusing it: say so now rather than after a service 401.
    const granted = token.scope?.split(' ').filter(Boolean);
    const missing = granted ? scopes.filter((s) => !granted.includes(s)) : [];
    if (missing.length > 0) {
      throw new GradebookError('unauthorized', pathOf(tokenUrl), answer.attempts, answer.status, `the platform did not grant ${missing.join(' ')}`);
    }
    const lifetimeMs = (token.expires_in ?? ASSUMED_LIFETIME_S) * 1000;
    const cached = { accessToken: token.access_token, usableUntil: requestedAt + lifetimeMs - Math.min(this.expiryMarginMs, lifetimeMs / 2) };
    this.tokens.set(key, cached);
    return cached;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
