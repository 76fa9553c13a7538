import cookieParser from 'cookie-parser';
import type { NextFunction, Request, Response } from 'express';
import { createRemoteJWKSet, decodeJwt, errors as joseErrors, importJWK, importSPKI, jwtVerify, type JWK, type JWTPayload, type JWTVerifyGetKey, type KeyLike } from 'jose';
import type { LtijsProvider } from 'ltijs';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Db } from '../db/database.js';
import { addressRefusal, describeRefusal, PUBLIC_ONLY_AGENTS } from './outbound-http.js';
import type { PlatformService } from './platforms.js';
import type { PlatformOrigins } from './platform-origins.js';
import { LTI_ROUTES } from './tool-configuration.js';

/**
 * Checks ltijs leaves out, run before ltijs sees a login or a launch:
 * - the id_token's nonce must be the one sent in that login's auth request (ltijs only rejects repeats);
 * - the deployment id must be one registered for the platform (ltijs accepts any);
 * - iat may not lie in the future; the token is signed by the platform's keys;
 * - target_link_uri must be this tool's launch URL, which is also the redirect_uri ltijs derives from it;
 * - the launch must come back to the browser that started the login: by ltijs' state cookie, or,
 *   where the browser blocks cookies in the platform's iframe, by the state kept in the platform's
 *   storage (LTI client-side postMessages, `lti_storage_target`), read back by the browser.
 * A launch rejected here never reaches ltijs, so nothing of it is stored.
 */

export type LaunchRejection =
  | 'login_missing_parameters'
  | 'login_bad_target'
  | 'unregistered_platform'
  | 'inactive_platform'
  | 'unknown_deployment'
  | 'malformed_token'
  | 'unknown_state'
  | 'bad_signature'
  | 'wrong_issuer'
  | 'wrong_audience'
  | 'expired_token'
  | 'future_token'
  | 'nonce_mismatch'
  | 'missing_claims'
  | 'state_unbound'
  | 'cross_origin_launch';

export type Reject = (req: Request, res: Response, status: number, reason: LaunchRejection, log: Record<string, unknown>) => void;
/** Renders one of the launch's own pages (the login and storage-check pages). */
export type Present = (req: Request, res: Response, status: number, view: string, locals: Record<string, unknown>) => void;

interface Deps {
  lti: LtijsProvider;
  db: Db;
  platforms: PlatformService;
  origins: PlatformOrigins;
  publicUrl: string;
  /** ltijs signs its cookies with this key; the guards read them the same way. */
  encryptionKey: string;
  /** OUTBOUND_ALLOW_PRIVATE_NETWORKS; when false, the platforms' key sets are fetched from public addresses only. */
  allowPrivateNetworks: boolean;
  reject: Reject;
  present: Present;
}

const LOGIN_TTL_MS = 10 * 60 * 1000;
/** From the id_token's arrival to the browser's answer from platform storage: a few round trips. */
const STORAGE_CHECK_TTL_MS = 30 * 1000;
/** A frame name the platform's page gives its storage frame, or _parent. */
const STORAGE_TARGET = /^[\w.-]{1,128}$/;
const CLOCK_SKEW_S = 5;
/** How old an id_token may be on arrival; the platform signs it just before the browser posts it. */
export const ID_TOKEN_MAX_AGE_S = 60;

const loginParams = z.object({
  iss: z.string().url(),
  login_hint: z.string().min(1),
  target_link_uri: z.string().url(),
  client_id: z.string().min(1).optional(),
  lti_deployment_id: z.string().min(1).optional(),
  lti_message_hint: z.string().optional(),
  // A malformed target is the platform's bug: launch as if it had offered no storage.
  lti_storage_target: z.string().regex(STORAGE_TARGET).optional().catch(undefined),
});

const CLAIM = 'https://purl.imsglobal.org/spec/lti/claim/';
const launchClaims = z.object({
  sub: z.string().min(1),
  [`${CLAIM}message_type`]: z.enum(['LtiResourceLinkRequest', 'LtiDeepLinkingRequest']),
  [`${CLAIM}version`]: z.literal('1.3.0'),
  [`${CLAIM}deployment_id`]: z.string().min(1),
  [`${CLAIM}roles`]: z.array(z.string()),
  [`${CLAIM}target_link_uri`]: z.string().url().optional(),
  [`${CLAIM}resource_link`]: z.object({ id: z.string().min(1) }).passthrough().optional(),
  'https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings': z.object({ deep_link_return_url: z.string().url() }).passthrough().optional(),
}).passthrough().superRefine((claims, ctx) => {
  const type = claims[`${CLAIM}message_type`];
  if (type === 'LtiResourceLinkRequest') {
    if (!claims[`${CLAIM}resource_link`]) ctx.addIssue({ code: 'custom', path: [`${CLAIM}resource_link`], message: 'required for a resource link launch' });
    if (!claims[`${CLAIM}target_link_uri`]) ctx.addIssue({ code: 'custom', path: [`${CLAIM}target_link_uri`], message: 'required for a resource link launch' });
  }
  if (type === 'LtiDeepLinkingRequest' && !claims['https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings']) {
    ctx.addIssue({ code: 'custom', path: ['deep_linking_settings'], message: 'required for a deep linking request' });
  }
});

function isLaunchTarget(target: string, publicUrl: string): boolean {
  const url = new URL(target);
  return url.origin + url.pathname === publicUrl + LTI_ROUTES.launch;
}

/** The platforms' key sets by URL, each cached by jose, fetched under the outbound address policy. */
function remoteKeySets(allowPrivateNetworks: boolean): (url: string) => JWTVerifyGetKey {
  const keySets = new Map<string, JWTVerifyGetKey>();
  return (key) => {
    let keySet = keySets.get(key);
    if (!keySet) {
      const url = new URL(key);
      const agent = allowPrivateNetworks ? undefined : PUBLIC_ONLY_AGENTS[url.protocol as keyof typeof PUBLIC_ONLY_AGENTS];
      keySet = createRemoteJWKSet(url, { timeoutDuration: 5000, cooldownDuration: 30_000, agent });
      keySets.set(key, keySet);
    }
    return keySet;
  };
}

async function verificationKey(method: string, key: string, keySet: (url: string) => JWTVerifyGetKey): Promise<JWTVerifyGetKey | KeyLike | Uint8Array> {
  if (method === 'JWK_SET') return keySet(key);
  if (method === 'JWK_KEY') return importJWK(JSON.parse(key) as JWK, 'RS256');
  return importSPKI(key, 'RS256');
}

/**
 * True when the request comes from a page of this tool. Sec-Fetch-Site, set by the browser and out
 * of a page's reach, decides where sent (Origin can be "null" on our own forms under a strict
 * referrer policy); else Origin, for older browsers. A client sending neither is not a browser,
 * and cannot be made to send a request by another site.
 */
export function isSameOriginRequest(req: Request, publicUrl: string): boolean {
  const site = req.get('sec-fetch-site');
  if (site !== undefined) return site === 'same-origin' || site === 'none';
  const origin = req.get('origin');
  return origin === undefined || origin === new URL(publicUrl).origin;
}

/** Like isSameOriginRequest, but a request without any browser signal is refused too. */
export function isFromOwnPage(req: Request, publicUrl: string): boolean {
  return (req.get('sec-fetch-site') !== undefined || req.get('origin') !== undefined) && isSameOriginRequest(req, publicUrl);
}

/** The signed cookies of a request, parsed as ltijs parses them (ltijs then reuses them). */
function readCookies(req: Request, res: Response, secret: string): Record<string, unknown> {
  if (!req.cookies) cookieParser(secret)(req, res, () => undefined);
  return req.signedCookies as Record<string, unknown>;
}

export function loginGuard({ lti, db, platforms, publicUrl, reject, present }: Deps) {
  return async (req: Request, res: Response, next: NextFunction) => {
    const parsed = loginParams.safeParse({ ...req.query, ...(req.body as object) });
    if (!parsed.success) {
      return reject(req, res, 400, 'login_missing_parameters', { fields: parsed.error.issues.map((i) => i.path.join('.')) });
    }
    const p = parsed.data;
    if (!isLaunchTarget(p.target_link_uri, publicUrl)) return reject(req, res, 400, 'login_bad_target', { iss: p.iss });
    const candidates = p.client_id ? [await lti.getPlatform(p.iss, p.client_id)] : (await lti.getPlatform(p.iss)) || [];
    const platform = candidates.find((c) => c !== false);
    if (!platform) return reject(req, res, 400, 'unregistered_platform', { iss: p.iss, clientId: p.client_id });
    const clientId = await platform.platformClientId();
    if (!(await platform.platformActive())) return reject(req, res, 403, 'inactive_platform', { iss: p.iss, clientId });
    if (p.lti_deployment_id && !(await platforms.isDeploymentKnown(p.iss, clientId, p.lti_deployment_id))) {
      return reject(req, res, 403, 'unknown_deployment', { iss: p.iss, clientId, deploymentId: p.lti_deployment_id });
    }
    // Inside an iframe the browser may refuse ltijs' state cookie; a page then checks before leaving.
    const framed = req.get('sec-fetch-dest') === 'iframe' || p.lti_storage_target !== undefined;
    // ltijs builds the auth request and redirects; record its state and nonce on the way out.
    const redirect = res.redirect.bind(res) as (url: string) => void;
    (res as { redirect: (url: string) => void }).redirect = (location: string) => {
      const auth = new URL(location);
      const state = auth.searchParams.get('state');
      const nonce = auth.searchParams.get('nonce');
      if (!state || !nonce) return redirect(location);
      // ltijs's nonce comes from Math.random; replace it with one from the CSPRNG.
      const strongNonce = randomBytes(24).toString('base64url');
      auth.searchParams.set('nonce', strongNonce);
      db.deleteFrom('oidc_login').where('expires_at', '<', new Date()).execute()
        .then(() => db.insertInto('oidc_login').values({
          state, nonce: strongNonce, issuer: p.iss, client_id: clientId, target_link_uri: p.target_link_uri,
          storage_target: p.lti_storage_target ?? null, expires_at: new Date(Date.now() + LOGIN_TTL_MS),
        }).execute())
        .then(() => {
          if (!framed) return redirect(auth.toString());
          const { lti_storage_target: _storage, ...restart } = p;
          present(req, res, 200, 'lti-login', {
            login: {
              authUrl: auth.toString(),
              platformOrigin: auth.origin,
              storageTarget: p.lti_storage_target ?? '',
              state,
              nonce: strongNonce,
              cookieCheckUrl: `${LTI_ROUTES.login}/cookie-check?${new URLSearchParams({ state })}`,
              // The platform's hint is still unused here, so a new window can start this login again.
              newWindowUrl: `${publicUrl}${LTI_ROUTES.login}?${new URLSearchParams(Object.entries(restart).filter(([, v]) => v !== undefined) as [string, string][])}`,
            },
          });
        }, next);
    };
    return next();
  };
}

/** Answers the login page's question: did this browser send back the state cookie just set? */
export function cookieCheck({ encryptionKey }: Pick<Deps, 'encryptionKey'>) {
  return (req: Request, res: Response) => {
    const state = typeof req.query.state === 'string' ? req.query.state : '';
    const cookies = readCookies(req, res, encryptionKey);
    res.set('cache-control', 'no-store').json({ cookie: state !== '' && typeof cookies[`state${state}`] === 'string' });
  };
}

export function launchGuard({ lti, db, platforms, origins, publicUrl, encryptionKey, allowPrivateNetworks, reject, present }: Deps) {
  const keySet = remoteKeySets(allowPrivateNetworks);
  return async (req: Request, res: Response, next: NextFunction) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const cookies = readCookies(req, res, encryptionKey);
    if (typeof body.lti_storage_ticket === 'string') return continueFromStorage(req, res, next, body);
    if (typeof body.id_token !== 'string') return next();
    const state = typeof body.state === 'string' ? body.state : '';
    // Single use: consumed whatever the outcome, so a replayed id_token finds no login.
    const login = state
      ? await db.deleteFrom('oidc_login').where('state', '=', state).returningAll().executeTakeFirst()
      : undefined;
    let unverified;
    try {
      unverified = decodeJwt(body.id_token);
    } catch {
      return reject(req, res, 400, 'malformed_token', {});
    }
    const claimsForLog = { iss: unverified.iss, aud: unverified.aud };
    if (!login || login.expires_at < new Date()) return reject(req, res, 401, 'unknown_state', claimsForLog);
    const verified = await verifiedClaims(req, res, body.id_token, unverified, login, claimsForLog);
    if (!verified) return;
    const { payload, platform } = verified;
    await origins.recordLaunch(login.issuer, login.client_id, payload);
    if (cookies[`state${state}`] === login.issuer) return next();
    if (!login.storage_target) return reject(req, res, 401, 'state_unbound', claimsForLog);
    // No cookie came back: the browser must show it holds this login's state in the platform's storage.
    const ticket = randomBytes(24).toString('base64url');
    await db.deleteFrom('pending_launch').where('expires_at', '<', new Date()).execute();
    await db.insertInto('pending_launch').values({
      ticket, state, nonce: login.nonce, issuer: login.issuer, id_token: body.id_token, expires_at: new Date(Date.now() + STORAGE_CHECK_TTL_MS),
    }).execute();
    present(req, res, 200, 'lti-storage-check', {
      check: { ticket, state, nonce: login.nonce, storageTarget: login.storage_target, platformOrigin: new URL(await platform.platformAuthEndpoint()).origin, action: LTI_ROUTES.launch },
    });
  };

  /** Checks signature, issuer, audience, times, nonce, claims and deployment; answers the rejection itself. */
  async function verifiedClaims(req: Request, res: Response, idToken: string, unverified: JWTPayload, login: { issuer: string; client_id: string; nonce: string }, claimsForLog: Record<string, unknown>) {
    if (unverified.iss !== login.issuer) return void reject(req, res, 401, 'wrong_issuer', claimsForLog);
    const audiences = Array.isArray(unverified.aud) ? unverified.aud : [unverified.aud];
    if (!audiences.includes(login.client_id) || (audiences.length > 1 && unverified.azp !== login.client_id)) {
      return void reject(req, res, 401, 'wrong_audience', claimsForLog);
    }
    const platform = await lti.getPlatform(login.issuer, login.client_id);
    if (!platform) return void reject(req, res, 400, 'unregistered_platform', claimsForLog);
    if (!(await platform.platformActive())) return void reject(req, res, 403, 'inactive_platform', claimsForLog);
    const authConfig = await platform.platformAuthConfig();
    let payload;
    try {
      const key = await verificationKey(authConfig.method, authConfig.key, keySet);
      ({ payload } = await jwtVerify(idToken, key as JWTVerifyGetKey, {
        algorithms: ['RS256'],
        issuer: login.issuer,
        audience: login.client_id,
        clockTolerance: CLOCK_SKEW_S,
        maxTokenAge: ID_TOKEN_MAX_AGE_S,
        requiredClaims: ['iat', 'exp', 'nonce', 'sub'],
      }));
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) return void reject(req, res, 401, 'expired_token', claimsForLog);
      if (err instanceof joseErrors.JWTClaimValidationFailed && err.claim === 'iat') {
        return void reject(req, res, 401, (unverified.iat ?? 0) > Date.now() / 1000 ? 'future_token' : 'expired_token', claimsForLog);
      }
      if (err instanceof joseErrors.JWTClaimValidationFailed) return void reject(req, res, 400, 'missing_claims', { ...claimsForLog, claim: err.claim });
      const refusal = addressRefusal(err);
      return void reject(req, res, 401, 'bad_signature', { ...claimsForLog, error: (err as Error).name, ...(refusal ? { detail: describeRefusal(refusal, authConfig.key) } : {}) });
    }
    if (payload.nonce !== login.nonce) return void reject(req, res, 401, 'nonce_mismatch', claimsForLog);
    const claims = launchClaims.safeParse(payload);
    if (!claims.success) return void reject(req, res, 400, 'missing_claims', { ...claimsForLog, claims: claims.error.issues.map((i) => i.path.join('.')) });
    const deploymentId = claims.data[`${CLAIM}deployment_id`] as string;
    if (!(await platforms.isDeploymentKnown(login.issuer, login.client_id, deploymentId))) {
      return void reject(req, res, 403, 'unknown_deployment', { ...claimsForLog, deploymentId });
    }
    return { payload, platform };
  }

  /**
   * The storage-check page's answer: the browser read this login's state back from the platform's
   * storage (the page checks the platform's origin). Only a page of this tool may send it.
   */
  async function continueFromStorage(req: Request, res: Response, next: NextFunction, body: Record<string, unknown>) {
    if (!isFromOwnPage(req, publicUrl)) return reject(req, res, 403, 'cross_origin_launch', { origin: req.get('origin') ?? null, fetchSite: req.get('sec-fetch-site') ?? null });
    const pending = await db.deleteFrom('pending_launch').where('ticket', '=', String(body.lti_storage_ticket)).returningAll().executeTakeFirst();
    if (!pending || pending.expires_at < new Date() || body.state !== pending.state || body.nonce !== pending.nonce) {
      return reject(req, res, 401, 'unknown_state', { ticketFound: Boolean(pending) });
    }
    // Hand ltijs the launch as if its state cookie had come back: the check above stands for it.
    req.body = { id_token: pending.id_token, state: pending.state };
    req.signedCookies = { [`state${pending.state}`]: pending.issuer };
    return next();
  }
}
