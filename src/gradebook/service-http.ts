import type { z } from 'zod';
import { BodyTooLargeError, readBoundedText } from '../bounded-body.js';
import { addressRefusal, describeRefusal } from '../lti/outbound-http.js';
import type { AccessTokenCache, PlatformCredentials } from './access-tokens.js';
import { GradebookError, pathOf } from './errors.js';
import { waitingOnLms } from './lms-wait.js';

/** Moodle matches Accept literally (a wildcard is refused), so each read names its exact media type. */
export const MEDIA_TYPE = {
  lineItemContainer: 'application/vnd.ims.lis.v2.lineitemcontainer+json',
  resultContainer: 'application/vnd.ims.lis.v2.resultcontainer+json',
  lineItem: 'application/vnd.ims.lis.v2.lineitem+json',
  score: 'application/vnd.ims.lis.v1.score+json',
  membershipContainer: 'application/vnd.ims.lti-nrps.v2.membershipcontainer+json',
} as const;

export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

export interface HttpOptions {
  /** Per attempt, from sending the request to the end of the body. */
  timeoutMs: number;
  /** Attempts per request, the first included. */
  maxAttempts: number;
  /** Full-jitter backoff: a random wait in [0, min(maxDelayMs, baseDelayMs × 2^(attempt−1))). */
  baseDelayMs: number;
  maxDelayMs: number;
  /** A Retry-After asking for longer than this fails the request at once instead of holding a sync for it. */
  maxRetryAfterMs: number;
  maxResponseBytes: number;
  /** Requests in flight to one platform at a time. */
  concurrency: number;
  sleep: Sleep;
  /** In [0, 1), like Math.random. */
  random: () => number;
  fetch: typeof fetch;
}

export const DEFAULT_HTTP_OPTIONS: HttpOptions = {
  timeoutMs: 10_000,
  maxAttempts: 5,
  baseDelayMs: 250,
  maxDelayMs: 8_000,
  maxRetryAfterMs: 60_000,
  maxResponseBytes: 20 * 1024 * 1024,
  concurrency: 4,
  sleep: abortableSleep,
  random: Math.random,
  fetch: (input, init) => fetch(input, init),
};

/** What one read cost: every HTTP request sent (token requests included), the attempts beyond each request's first, and pages read. */
export interface RequestStats {
  requests: number;
  retries: number;
  pages: number;
}

export function emptyStats(): RequestStats {
  return { requests: 0, retries: 0, pages: 0 };
}

/** Carried through one read: its counters, and a signal that stops the rest once a part has failed. */
export interface CallContext {
  stats: RequestStats;
  signal?: AbortSignal;
}

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Limits the requests in flight to one platform; waiting callers are served in order. */
class Semaphore {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(readonly limit: number) {}

  async run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.acquire(signal);
    try {
      return await task();
    } finally {
      this.release();
    }
  }

  private acquire(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (this.active < this.limit) {
      this.active += 1;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const grant = () => {
        signal?.removeEventListener('abort', onAbort);
        this.active += 1;
        resolve();
      };
      const onAbort = () => {
        const index = this.waiting.indexOf(grant);
        if (index >= 0) this.waiting.splice(index, 1);
        reject(signal!.reason);
      };
      this.waiting.push(grant);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private release(): void {
    this.active -= 1;
    this.waiting.shift()?.();
  }
}

const RETRYABLE_STATUSES = new Set([429, 500, 502, 503, 504]);
const RETRY_AFTER_STATUSES = new Set([429, 503]);

export function backoffDelayMs(attempt: number, options: Pick<HttpOptions, 'baseDelayMs' | 'maxDelayMs' | 'random'>): number {
  const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (attempt - 1));
  return Math.floor(options.random() * ceiling);
}

/** Retry-After as delay-seconds or an HTTP-date (RFC 9110 §10.2.3); undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now: number = Date.now()): number | undefined {
  const value = header?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(date - now, 0);
}

export interface HttpRequest {
  method: 'GET' | 'POST';
  url: string;
  headers: Record<string, string>;
  body?: string;
}

export interface HttpAnswer {
  status: number;
  headers: Headers;
  body: string;
  /** Attempts made for this request, including those of earlier rounds passed in. */
  attempts: number;
}

class AttemptTimeout extends Error {}
/**
 * HTTP to one platform: a timeout per attempt, retries of 429/5xx, network errors and timeouts with
 * full-jitter backoff (or the platform's Retry-After), bounded bodies, and a concurrency limit.
 * Other statuses are returned for the caller to interpret.
 */
export class PlatformHttp {
  private readonly semaphore: Semaphore;

  constructor(readonly options: HttpOptions) {
    this.semaphore = new Semaphore(options.concurrency);
  }

  /** `build` is called for every attempt, so each can carry fresh credentials (a client assertion's jti is single use). */
  async send(build: () => HttpRequest | Promise<HttpRequest>, call: CallContext, attemptsBefore = 0): Promise<HttpAnswer> {
    const { options } = this;
    for (let attempt = 1; ; attempt++) {
      call.signal?.throwIfAborted();
      const attempts = attemptsBefore + attempt;
      const request = await build();
      call.stats.requests += 1;
      if (attempts > 1) call.stats.retries += 1;
      let answer: Omit<HttpAnswer, 'attempts'> | undefined;
      let failure: { kind: 'timeout' | 'unavailable'; detail: string; cause?: unknown };
      try {
        answer = await this.semaphore.run(() => this.attempt(request, call.signal), call.signal);
        if (!RETRYABLE_STATUSES.has(answer.status)) return { ...answer, attempts };
        failure = { kind: 'unavailable', detail: `HTTP ${answer.status}` };
      } catch (error) {
        if (call.signal?.aborted) throw call.signal.reason;
        if (error instanceof BodyTooLargeError) {
          throw new GradebookError('bad_response', pathOf(request.url), attempts, undefined, `the answer is larger than ${options.maxResponseBytes} bytes`);
        }
        const refusal = addressRefusal(error);
        if (refusal) throw new GradebookError('address_refused', pathOf(request.url), attempts, undefined, describeRefusal(refusal, request.url), { cause: refusal });
        failure = error instanceof AttemptTimeout
          ? { kind: 'timeout', detail: `no complete answer within ${options.timeoutMs} ms` }
          : { kind: 'unavailable', detail: networkErrorDetail(error), cause: error };
      }
      if (attempt >= options.maxAttempts) {
        throw new GradebookError(failure.kind, pathOf(request.url), attempts, answer?.status, `${failure.detail}; no attempts left`, { cause: failure.cause });
      }
      const asked = answer && RETRY_AFTER_STATUSES.has(answer.status) ? retryAfterMs(answer.headers.get('retry-after')) : undefined;
      if (asked !== undefined && asked > options.maxRetryAfterMs) {
        throw new GradebookError('unavailable', pathOf(request.url), attempts, answer?.status, `the platform asks to retry after ${Math.ceil(asked / 1000)} s`);
      }
      await options.sleep(asked ?? backoffDelayMs(attempt, options), call.signal);
    }
  }

  private async attempt(request: HttpRequest, signal: AbortSignal | undefined): Promise<Omit<HttpAnswer, 'attempts'>> {
    const controller = new AbortController();
    // Made only when it fires: an Error's stack trace costs more than the rest of this set-up.
    const timer = setTimeout(() => controller.abort(new AttemptTimeout()), this.options.timeoutMs);
    const forwardAbort = () => controller.abort(signal!.reason);
    signal?.addEventListener('abort', forwardAbort, { once: true });
    try {
      return await waitingOnLms(async () => {
        const res = await this.options.fetch(request.url, {
          method: request.method,
          headers: request.headers,
          body: request.body ?? null,
          // A redirect would carry the bearer token somewhere we did not choose.
          redirect: 'manual',
          signal: controller.signal,
        });
        const body = await readBoundedText(res, this.options.maxResponseBytes);
        return { status: res.status, headers: res.headers, body };
      });
    } catch (error) {
      if (controller.signal.reason instanceof AttemptTimeout) throw controller.signal.reason;
      throw error;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', forwardAbort);
    }
  }
}

function networkErrorDetail(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error as Error).message;
}

export function errorForStatus(answer: HttpAnswer, url: string, detail: string): GradebookError {
  const kind = answer.status === 401 ? 'unauthorized' : answer.status === 403 ? 'forbidden' : answer.status === 404 ? 'not_found' : 'bad_response';
  return new GradebookError(kind, pathOf(url), answer.attempts, answer.status, detail);
}

export function parseJsonBody(answer: HttpAnswer, url: string): unknown {
  try {
    return JSON.parse(answer.body);
  } catch {
    throw new GradebookError('bad_response', pathOf(url), answer.attempts, answer.status, 'the answer is not JSON');
  }
}

/** A hand-written reader for a body read too often for a schema library: the value, or where it is wrong ("0.userId: …"). */
export type BodyReader<T> = (body: unknown) => { ok: true; value: T } | { ok: false; issues: string[] };

/** Names the fields that failed validation, never their values (they can be personal data). */
export function validated<T>(schema: z.ZodType<T> | BodyReader<T>, body: unknown, url: string, answer: HttpAnswer): T {
  let issues: string[];
  if (typeof schema === 'function') {
    const read = schema(body);
    if (read.ok) return read.value;
    issues = read.issues;
  } else {
    const parsed = schema.safeParse(body);
    if (parsed.success) return parsed.data;
    issues = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`);
  }
  throw new GradebookError('bad_response', pathOf(url), answer.attempts, answer.status, `unexpected shape (${issues.slice(0, 3).join('; ')})`);
}

export interface JsonRead<T> {
  accept: string;
  scope: string;
  schema: z.ZodType<T> | BodyReader<T>;
}

/** Authorized calls to AGS/NRPS resources: a bearer token for the scope, and one fresh token after a 401. */
export class ServiceCaller {
  constructor(
    private readonly http: PlatformHttp,
    private readonly tokens: AccessTokenCache,
    private readonly credentials: () => Promise<PlatformCredentials>,
  ) {}

  async getJson<T>(url: string, read: JsonRead<T>, call: CallContext): Promise<{ body: T; link: string | null }> {
    const answer = await this.authorized(url, read.scope, call, (token) => ({ method: 'GET', url, headers: { accept: read.accept, authorization: `Bearer ${token}` } }));
    return { body: validated(read.schema, parseJsonBody(answer, url), url, answer), link: answer.headers.get('link') };
  }

  /** POSTs a JSON document (a line item, a score); the answer's body is returned unparsed for the caller. */
  async postJson(url: string, write: { scope: string; contentType: string; body: unknown }, call: CallContext): Promise<HttpAnswer> {
    const body = JSON.stringify(write.body);
    return this.authorized(url, write.scope, call, (token) => ({
      method: 'POST', url, body, headers: { 'content-type': write.contentType, accept: write.contentType, authorization: `Bearer ${token}` },
    }));
  }

  private async authorized(url: string, scope: string, call: CallContext, request: (token: string) => HttpRequest): Promise<HttpAnswer> {
    const credentials = await this.credentials();
    let token = await this.tokens.get(credentials, [scope], call);
    let answer = await this.http.send(() => request(token), call);
    if (answer.status === 401) {
      // Expired or revoked early. Once only: both Moodle and Canvas also answer 401 for a scope the tool lacks.
      this.tokens.invalidate(token);
      token = await this.tokens.get(credentials, [scope], call);
      answer = await this.http.send(() => request(token), call, answer.attempts);
    }
    if (answer.status < 200 || answer.status > 299) {
      throw errorForStatus(answer, url, answer.status >= 300 && answer.status < 400 ? 'redirect not followed' : `HTTP ${answer.status}`);
    }
    return answer;
  }
}
