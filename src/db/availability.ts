/**
 * Telling "the database cannot be reached right now" apart from every other database error. The
 * former is an outage the client should wait out (503 with Retry-After); the latter is a bug.
 * Errors come from pg and pg-pool (our Kysely pool and pg-boss), and from Sequelize (ltijs).
 */

/** How long clients are asked to wait before trying again; also what /readyz says. */
export const DATABASE_RETRY_AFTER_S = 5;

/**
 * How long opening a connection may take before the request fails. Generous for PGlite, whose new
 * connections wait for the single backend while another connection holds a transaction.
 */
export const DATABASE_CONNECT_TIMEOUT_MS = 10_000;

/** Socket errors of a connection that could not be made or was lost. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'EHOSTDOWN', 'ENETUNREACH', 'ENETDOWN', 'ENOTFOUND', 'EAI_AGAIN',
]);

/**
 * SQLSTATEs of a server that is shutting down or not taking connections: admin_shutdown,
 * crash_shutdown, cannot_connect_now, too_many_connections. Class 08 (connection exception) too.
 */
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);

/** pg and pg-pool report a lost connection or a connect timeout without a code. */
const PG_MESSAGES = [
  /^Connection terminated/,
  /^timeout exceeded when trying to connect$/,
  /^timeout expired$/,
  /^Client has encountered a connection error and is not queryable$/,
];

/** Sequelize's ConnectionError family, less the ones that mean a wrong setting (access denied, invalid connection). */
const SEQUELIZE_NAMES = new Set([
  'SequelizeConnectionRefusedError', 'SequelizeConnectionTimedOutError', 'SequelizeConnectionAcquireTimeoutError', 'SequelizeHostNotFoundError', 'SequelizeHostNotReachableError',
]);

/** The message ltijs is given in place of a connection error: ltijs keeps only messages (see src/lti/provider.ts). */
export const DATABASE_UNAVAILABLE = 'DATABASE_UNAVAILABLE';

export class DatabaseUnavailableError extends Error {
  constructor(cause: unknown) {
    super(DATABASE_UNAVAILABLE, { cause });
    this.name = 'DatabaseUnavailableError';
  }
}

interface ErrorLike {
  name?: unknown;
  code?: unknown;
  syscall?: unknown;
  message?: unknown;
  cause?: unknown;
  parent?: unknown;
  original?: unknown;
  errors?: unknown;
}

export function isDatabaseUnavailable(err: unknown): boolean {
  return unavailable(err, 0);
}

function unavailable(err: unknown, depth: number): boolean {
  if (typeof err !== 'object' || err === null || depth > 3) return false;
  const e = err as ErrorLike;
  if (e instanceof DatabaseUnavailableError) return true;
  if (typeof e.code === 'string') {
    if (NETWORK_CODES.has(e.code) || UNAVAILABLE_SQLSTATES.has(e.code) || /^08[0-9A-Z]{3}$/.test(e.code)) return true;
    // A unix socket whose server has gone (the embedded database's process stopped).
    if (e.code === 'ENOENT' && e.syscall === 'connect') return true;
  }
  if (typeof e.name === 'string' && SEQUELIZE_NAMES.has(e.name)) return true;
  if (typeof e.message === 'string' && e.code === undefined && PG_MESSAGES.some((m) => m.test(e.message as string))) return true;
  // Wrapped by Sequelize (parent, original) or Node (AggregateError: one per address of a host
  // name). Not any Error cause: fetch() failing to reach an LMS is no database outage.
  const inner = [e.parent, e.original, ...(Array.isArray(e.errors) ? e.errors : [])];
  return inner.some((i) => i !== err && unavailable(i, depth + 1));
}

/** What a log line may say about the failure: the code and message of the innermost error, never a stack or a query. */
export function describeUnavailable(err: unknown): { code?: string; message: string } {
  let e = err as ErrorLike;
  for (let i = 0; i < 5 && typeof e.cause === 'object' && e.cause !== null; i++) e = e.cause as ErrorLike;
  const inner = (e.parent ?? e.original ?? e) as ErrorLike;
  return { ...(typeof inner.code === 'string' ? { code: inner.code } : {}), message: String(inner.message ?? inner) };
}
