import { BodyTooLargeError, readBoundedText } from '../bounded-body.js';

/**
 * Requests the tool makes to URLs a platform gave it (Dynamic Registration). Bounded in time and
 * size, no redirects followed, only http(s), no credentials in the URL; failures are typed so
 * pages can say what went wrong.
 */
export type OutboundFailure = 'invalid_url' | 'unreachable' | 'timeout' | 'too_large' | 'not_json' | 'http_status';

export class OutboundError extends Error {
  constructor(
    readonly failure: OutboundFailure,
    message: string,
    readonly status?: number,
    readonly body?: unknown,
  ) {
    super(message);
  }
}

const MAX_RESPONSE_BYTES = 512 * 1024;
const TIMEOUT_MS = 10_000;

export function checkOutboundUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new OutboundError('invalid_url', `not a URL: ${raw.slice(0, 200)}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new OutboundError('invalid_url', `only http(s) URLs are fetched, not ${url.protocol}`);
  if (url.username || url.password) throw new OutboundError('invalid_url', 'URLs with credentials are not fetched');
  return url;
}

/** Fetches a URL and parses the body as JSON whatever its Content-Type (Moodle labels JSON text/html). */
export async function fetchJson(raw: string, init: { method?: 'GET' | 'POST'; headers?: Record<string, string>; json?: unknown } = {}): Promise<{ status: number; body: unknown }> {
  const url = checkOutboundUrl(raw);
  let res: Response;
  try {
    res = await fetch(url, {
      method: init.method ?? 'GET',
      headers: { accept: 'application/json', ...(init.json !== undefined ? { 'content-type': 'application/json' } : {}), ...init.headers },
      body: init.json !== undefined ? JSON.stringify(init.json) : null,
      redirect: 'manual',
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (err) {
    const name = (err as Error).name;
    if (name === 'TimeoutError' || name === 'AbortError') throw new OutboundError('timeout', `no answer within ${TIMEOUT_MS / 1000} s`);
    const cause = (err as Error & { cause?: { code?: string; message?: string; errors?: Array<{ code?: string }> } }).cause;
    throw new OutboundError('unreachable', cause?.code ?? cause?.errors?.[0]?.code ?? cause?.message ?? (err as Error).message);
  }
  if (res.status >= 300 && res.status < 400) throw new OutboundError('http_status', `redirect to ${res.headers.get('location') ?? '?'} not followed`, res.status);
  let text: string;
  try {
    text = await readBoundedText(res, MAX_RESPONSE_BYTES);
  } catch (err) {
    if (err instanceof BodyTooLargeError) throw new OutboundError('too_large', err.message);
    throw new OutboundError('unreachable', (err as Error).message);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    if (!res.ok) throw new OutboundError('http_status', `HTTP ${res.status}`, res.status, text.slice(0, 500));
    throw new OutboundError('not_json', 'the answer is not JSON');
  }
  if (!res.ok) throw new OutboundError('http_status', `HTTP ${res.status}`, res.status, body);
  return { status: res.status, body };
}
