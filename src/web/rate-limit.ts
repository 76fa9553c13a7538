import type { NextFunction, Request, Response } from 'express';
import { renderError } from './render.js';

/** Addresses tracked at once; past this the longest-idle are forgotten (an attacker cycling addresses cannot grow memory). */
const MAX_TRACKED = 50_000;

/**
 * A token bucket per client address: `perMinute` requests, refilled evenly over the minute. Held
 * in this process's memory, so with several instances each allows its own share.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly perMinute: number) {}

  /** Takes one request from the address's budget; the seconds to wait when it is spent. */
  take(address: string, now = Date.now()): { allowed: true } | { allowed: false; retryAfterSeconds: number } {
    const refillPerMs = this.perMinute / 60_000;
    const bucket = this.buckets.get(address) ?? { tokens: this.perMinute, at: now };
    bucket.tokens = Math.min(this.perMinute, bucket.tokens + (now - bucket.at) * refillPerMs);
    bucket.at = now;
    this.buckets.delete(address);
    this.buckets.set(address, bucket);
    if (this.buckets.size > MAX_TRACKED) this.buckets.delete(this.buckets.keys().next().value!);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true };
    }
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / refillPerMs / 1000)) };
  }
}

/** Answers 429 with Retry-After once the client's budget on this limiter is spent. */
export function rateLimited(limiter: RateLimiter) {
  return (req: Request, res: Response, next: NextFunction) => {
    // req.ip honours X-Forwarded-For only from the proxies 'trust proxy' names (loopback and private networks).
    const outcome = limiter.take(req.ip ?? 'unknown');
    if (outcome.allowed) return next();
    res.set('retry-after', String(outcome.retryAfterSeconds));
    return renderError(req, res, 429, { reason: 'too_many_requests', params: { seconds: String(outcome.retryAfterSeconds) } });
  };
}
