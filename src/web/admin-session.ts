import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';

/**
 * The local admin's sign-in: a password from ADMIN_PASSWORD, a signed session cookie, a CSRF token
 * bound to the session, and a per-address throttle on failed attempts. Everything is in memory or
 * in the cookie, so it needs no table; a restart keeps sessions (the key is the installation's).
 */

export const SESSION_COOKIE = 'admin_session';
const SESSION_MS = 8 * 60 * 60 * 1000;

export interface AdminSession {
  id: string;
  expiresAt: number;
}

export class AdminSessions {
  private readonly key: Buffer;
  /** A per-process key: both sides of the comparison are digested to the same length first. */
  private readonly compareKey = randomBytes(32);
  private readonly expected: Buffer;

  constructor(password: string, ltiEncryptionKey: string, private readonly secure: boolean) {
    // A key of its own, so that a session cookie can never pass for an ltik or a sealed secret.
    this.key = createHmac('sha256', ltiEncryptionKey).update('microcred admin session v1').digest();
    this.expected = this.digest(password);
  }

  private digest(value: string): Buffer {
    return createHmac('sha256', this.compareKey).update(value, 'utf8').digest();
  }

  passwordMatches(given: string): boolean {
    return timingSafeEqual(this.digest(given), this.expected);
  }

  private sign(payload: string): string {
    return createHmac('sha256', this.key).update(payload).digest('base64url');
  }

  start(res: Response, now = Date.now()): void {
    const session: AdminSession = { id: randomBytes(16).toString('base64url'), expiresAt: now + SESSION_MS };
    const payload = Buffer.from(JSON.stringify(session)).toString('base64url');
    res.cookie(SESSION_COOKIE, `${payload}.${this.sign(payload)}`, {
      httpOnly: true, sameSite: 'strict', secure: this.secure, path: '/admin', maxAge: SESSION_MS,
    });
  }

  end(res: Response): void {
    res.clearCookie(SESSION_COOKIE, { httpOnly: true, sameSite: 'strict', secure: this.secure, path: '/admin' });
  }

  /** The session a request carries, if its cookie is genuine and unexpired. */
  read(req: Request, now = Date.now()): AdminSession | undefined {
    const raw = cookieValue(req.headers.cookie, SESSION_COOKIE);
    const [payload, mac] = raw?.split('.') ?? [];
    if (!payload || !mac) return undefined;
    const expectedMac = Buffer.from(this.sign(payload));
    const givenMac = Buffer.from(mac);
    if (givenMac.length !== expectedMac.length || !timingSafeEqual(givenMac, expectedMac)) return undefined;
    try {
      const session = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as AdminSession;
      return typeof session.id === 'string' && typeof session.expiresAt === 'number' && session.expiresAt > now ? session : undefined;
    } catch {
      return undefined;
    }
  }

  csrfToken(session: AdminSession): string {
    return this.sign(`csrf ${session.id}`);
  }

  csrfMatches(session: AdminSession, given: unknown): boolean {
    if (typeof given !== 'string') return false;
    const expected = Buffer.from(this.csrfToken(session));
    const actual = Buffer.from(given);
    return actual.length === expected.length && timingSafeEqual(actual, expected);
  }
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of header?.split(';') ?? []) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

const MAX_FAILURES = 5;
const LOCKOUT_MS = 15 * 60 * 1000;
/** Bounds the memory an attacker with many addresses can make us hold. */
const MAX_TRACKED = 10_000;

/** Failed sign-ins per client address: after five in a row, that address waits fifteen minutes. */
export class LoginThrottle {
  private readonly failures = new Map<string, { count: number; lockedUntil: number }>();

  /** Milliseconds until the address may try again; 0 when it may try now. */
  waitFor(address: string, now = Date.now()): number {
    const entry = this.failures.get(address);
    return entry && entry.lockedUntil > now ? entry.lockedUntil - now : 0;
  }

  failed(address: string, now = Date.now()): void {
    const entry = this.failures.get(address) ?? { count: 0, lockedUntil: 0 };
    if (entry.lockedUntil && entry.lockedUntil <= now) entry.count = 0;
    entry.count += 1;
    entry.lockedUntil = entry.count >= MAX_FAILURES ? now + LOCKOUT_MS : 0;
    this.failures.delete(address);
    this.failures.set(address, entry);
    if (this.failures.size > MAX_TRACKED) this.failures.delete(this.failures.keys().next().value!);
  }

  succeeded(address: string): void {
    this.failures.delete(address);
  }
}
