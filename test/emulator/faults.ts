import type { NextFunction, Request, Response } from 'express';
import type { PlatformContext } from './context.js';
import { bearerToken, serviceError } from './service-auth.js';
import type { Fault } from './types.js';

const DEFAULT_DELAY_MS = 1_000;
const DEFAULT_RETRY_AFTER_SECONDS = 1;

/** One injectable fault at a time, applied to service endpoints (token, AGS, NRPS) only. */
export class FaultInjector {
  private active: { fault: Fault; remaining: number; prefix: string | undefined } | undefined;
  private readonly delays = new Set<NodeJS.Timeout>();

  constructor(private readonly ctx: PlatformContext) {}

  set(fault: Fault): void {
    const remaining = fault.times ?? Number.POSITIVE_INFINITY;
    if (!(remaining >= 0)) throw new Error('fault.times must be a number >= 0');
    // An absolute URL (e.g. emulator.endpoints.token) is matched on its path.
    const prefix = fault.pathPrefix?.startsWith('http') ? new URL(fault.pathPrefix).pathname : fault.pathPrefix;
    this.active = { fault: { ...fault }, remaining, prefix };
  }

  clear(): void {
    this.active = undefined;
  }

  cancelDelays(): void {
    for (const timer of this.delays) clearTimeout(timer);
    this.delays.clear();
  }

  middleware(): (req: Request, res: Response, next: NextFunction) => void {
    return (req, res, next) => {
      const active = this.active;
      if (!active || active.remaining <= 0 || !this.applies(active.fault, active.prefix, req)) return next();
      active.remaining -= 1;
      const { fault } = active;
      switch (fault.kind) {
        case 'expired-token':
          res.set('WWW-Authenticate', 'Bearer error="invalid_token", error_description="The access token expired"');
          return serviceError(this.ctx, req, res, 401, 'The access token expired');
        case 'rate-limit':
          res.set('Retry-After', String(fault.retryAfterSeconds ?? DEFAULT_RETRY_AFTER_SECONDS));
          return serviceError(this.ctx, req, res, 429, 'Rate limit exceeded');
        case 'server-error':
          return serviceError(this.ctx, req, res, 500);
        case 'slow': {
          const timer = setTimeout(() => {
            this.delays.delete(timer);
            next();
          }, fault.delayMs ?? DEFAULT_DELAY_MS);
          this.delays.add(timer);
          return undefined;
        }
      }
    };
  }

  private applies(fault: Fault, prefix: string | undefined, req: Request): boolean {
    if (!this.ctx.profile.isServicePath(req.path)) return false;
    if (prefix !== undefined && !req.path.startsWith(prefix)) return false;
    // Only calls that present a bearer token can have one that "expired".
    return fault.kind !== 'expired-token' || bearerToken(req) !== undefined;
  }
}
