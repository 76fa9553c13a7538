import { randomBytes } from 'node:crypto';
import type { Express, Request, Response } from 'express';
import * as jose from 'jose';
import { absolute, type PlatformContext } from './context.js';
import { fetchToolJwks, mediaType, param } from './http-util.js';
import { CLIENT_ASSERTION_TYPE } from './vocabulary.js';

const CLOCK_SKEW_SECONDS = 60;

class TokenError extends Error {
  constructor(
    readonly code: 'invalid_request' | 'invalid_client' | 'unsupported_grant_type' | 'invalid_scope',
    description: string,
  ) {
    super(description);
  }
}

function send(ctx: PlatformContext, res: Response, status: number, body: Record<string, unknown>): void {
  res.status(status).set('Content-Type', ctx.profile.tokenContentType);
  if (ctx.profile.flavor === 'canvas') res.set({ 'Cache-Control': 'no-store', Pragma: 'no-cache' });
  res.send(JSON.stringify(body));
}

/** Moodle answers every token error with 400; RFC 6749 §5.2 (and Canvas) use 401 for invalid_client. */
function errorStatus(ctx: PlatformContext, code: TokenError['code']): number {
  return code === 'invalid_client' && ctx.profile.flavor === 'canvas' ? 401 : 400;
}

/** Verifies a client assertion per the IMS Security Framework §4.1.1 and returns the client id. */
async function verifyClientAssertion(ctx: PlatformContext, assertion: string): Promise<string> {
  let unverified: jose.JWTPayload;
  try {
    unverified = jose.decodeJwt(assertion);
  } catch {
    throw new TokenError('invalid_request', 'client_assertion is not a JWT');
  }
  const clientId = unverified.sub;
  const tool = clientId ? ctx.store.tools.get(clientId) : undefined;
  if (!clientId || !tool || tool.status !== 'active') throw new TokenError('invalid_client', 'unknown or inactive client');
  if (unverified.iss !== clientId) throw new TokenError('invalid_client', 'iss and sub must both be the client_id');
  let jwks: jose.JSONWebKeySet;
  try {
    jwks = await fetchToolJwks(tool.jwksUri);
  } catch (error) {
    throw new TokenError('invalid_client', `cannot read the tool JWKS: ${(error as Error).message}`);
  }
  let payload: jose.JWTPayload;
  try {
    ({ payload } = await jose.jwtVerify(assertion, jose.createLocalJWKSet(jwks), {
      algorithms: ['RS256'],
      audience: absolute(ctx, ctx.profile.paths.token),
      clockTolerance: CLOCK_SKEW_SECONDS,
      requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti'],
    }));
  } catch (error) {
    throw new TokenError('invalid_client', `client_assertion rejected: ${(error as Error).message}`);
  }
  const now = Math.floor(Date.now() / 1000);
  if (payload.iat! > now + CLOCK_SKEW_SECONDS) throw new TokenError('invalid_client', 'client_assertion iat is in the future');
  const jtiKey = `${clientId}\n${payload.jti!}`;
  if (ctx.store.usedAssertionIds.get(jtiKey)) throw new TokenError('invalid_client', 'client_assertion jti was already used');
  ctx.store.usedAssertionIds.set(jtiKey, { expiresAt: (payload.exp! + CLOCK_SKEW_SECONDS) * 1000 });
  return clientId;
}

/** Moodle grants what it can of the request (array_intersect); Canvas refuses any scope it has not granted. */
function grantScopes(ctx: PlatformContext, requested: string[], granted: string[]): string[] {
  if (ctx.profile.flavor === 'canvas') {
    const refused = requested.filter((s) => !granted.includes(s));
    if (refused.length > 0) {
      throw new TokenError('invalid_scope', `The following scopes were requested, but not granted: ${refused.join(' ')}`);
    }
    return [...new Set(requested)];
  }
  const scopes = [...new Set(requested.filter((s) => granted.includes(s)))];
  if (scopes.length === 0) throw new TokenError('invalid_scope', 'none of the requested scopes is granted to this tool');
  return scopes;
}

async function newAccessToken(ctx: PlatformContext, clientId: string, scopes: string[], expiresAt: number): Promise<string> {
  if (ctx.profile.flavor === 'moodle') return randomBytes(16).toString('hex');
  // Canvas access tokens are JWTs signed by the platform.
  return ctx.keys().sign({
    iss: ctx.base(),
    sub: clientId,
    aud: absolute(ctx, ctx.profile.paths.token),
    iat: Math.floor(Date.now() / 1000),
    exp: Math.floor(expiresAt / 1000),
    jti: randomBytes(16).toString('hex'),
    scopes: scopes.join(' '),
  });
}

/** OAuth 2.0 client_credentials grant with a JWT client assertion (RFC 7523). */
async function issueToken(ctx: PlatformContext, req: Request, res: Response): Promise<Record<string, unknown>> {
  if (mediaType(req.get('content-type')) !== 'application/x-www-form-urlencoded') {
    throw new TokenError('invalid_request', 'the body must be application/x-www-form-urlencoded');
  }
  const scope = param(req.body, 'scope');
  if (scope !== undefined) res.locals.scope = scope;
  if (param(req.body, 'grant_type') !== 'client_credentials') throw new TokenError('unsupported_grant_type', 'grant_type must be client_credentials');
  if (param(req.body, 'client_assertion_type') !== CLIENT_ASSERTION_TYPE) {
    throw new TokenError('invalid_request', `client_assertion_type must be ${CLIENT_ASSERTION_TYPE}`);
  }
  const assertion = param(req.body, 'client_assertion');
  if (!assertion) throw new TokenError('invalid_request', 'client_assertion is required');
  if (!scope) throw new TokenError('invalid_request', 'scope is required');
  const clientId = await verifyClientAssertion(ctx, assertion);
  const scopes = grantScopes(ctx, scope.split(' ').filter(Boolean), ctx.store.tool(clientId).scopes);
  const ttl = ctx.options.accessTokenTtlSeconds;
  const expiresAt = Date.now() + ttl * 1000;
  const accessToken = await newAccessToken(ctx, clientId, scopes, expiresAt);
  const record = { clientId, scopes, expiresAt };
  ctx.store.accessTokens.set(accessToken, record);
  ctx.store.recordIssuedToken({ ...record });
  return { access_token: accessToken, token_type: 'Bearer', expires_in: ttl, scope: scopes.join(' ') };
}

export function mountTokenRoute(app: Express, ctx: PlatformContext): void {
  app.post(ctx.profile.paths.token, (req, res, next) => {
    issueToken(ctx, req, res)
      .then((body) => send(ctx, res, 200, body))
      .catch((error: unknown) => {
        if (!(error instanceof TokenError)) return next(error);
        send(ctx, res, errorStatus(ctx, error.code), { error: error.code, error_description: error.message });
      });
  });
}
