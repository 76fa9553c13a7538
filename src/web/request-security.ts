import type { NextFunction, Request, Response } from 'express';
import { SignJWT, decodeJwt } from 'jose';
import { isSameOriginRequest } from '../lti/launch-security.js';
import type { PlatformOrigins } from '../lti/platform-origins.js';
import { REFERRER_POLICY, renderError } from './render.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);


/** The Content-Security-Policy of every page: our own files only; framed only by registered platforms. */
export function contentSecurityPolicy(frameOrigins: string[], formTargets: string[] = []): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    `form-action ${["'self'", ...formTargets].join(' ')}`,
    `frame-ancestors ${["'self'", ...frameOrigins].join(' ')}`,
  ].join('; ');
}

/** Security headers on every response; a route may widen form-action for its own page. */
export function securityHeaders(origins: PlatformOrigins) {
  return async (_req: Request, res: Response, next: NextFunction) => {
    try {
      res.locals.frameOrigins = await origins.all();
    } catch (err) {
      return next(err);
    }
    res.set({
      'content-security-policy': contentSecurityPolicy(res.locals.frameOrigins as string[]),
      'referrer-policy': REFERRER_POLICY,
      'x-content-type-options': 'nosniff',
    });
    return next();
  };
}

/**
 * State-changing requests to the session routes: only from this tool's own pages, and with the
 * ltik in the body or the Authorization header, never in a URL that can leak through logs or history.
 * The session itself is the ltik, not a cookie, so a forged cross-site form cannot carry it either.
 */
export function csrfGuard(publicUrl: string) {
  return (req: Request, res: Response, next: NextFunction) => {
    if (SAFE_METHODS.has(req.method)) return next();
    if (typeof req.query.ltik === 'string') return renderError(req, res, 400, { reason: 'ltik_in_query' });
    if (!isSameOriginRequest(req, publicUrl)) return renderError(req, res, 403, { reason: 'cross_origin' });
    return next();
  };
}

/**
 * ltijs signs ltiks without an expiry. At launch we re-sign its claims with one, so that an ltik
 * that leaks stops working; ltijs' own verification (jsonwebtoken) then enforces `exp`.
 */
export async function expiringLtik(ltik: string, encryptionKey: string, maxAgeMinutes: number): Promise<string> {
  const { iat: _iat, exp: _exp, ...claims } = decodeJwt(ltik);
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setIssuedAt().setExpirationTime(`${maxAgeMinutes}m`).sign(new TextEncoder().encode(encryptionKey));
}
