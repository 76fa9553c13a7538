/**
 * Why reading the gradebook failed, in terms a caller can act on:
 * - unauthorized: the platform refused our client assertion or access token (also a missing scope:
 *   Moodle and Canvas answer 401 for that, not 403);
 * - forbidden / not_found: the platform's 403 / 404 for this resource;
 * - bad_response: an answer we cannot use (unexpected status, not JSON, wrong shape, too large,
 *   a paging loop or too many pages);
 * - unavailable: the platform kept failing (429, 5xx, network) until the retries ran out;
 * - timeout: the last attempt got no complete answer in time;
 * - address_refused: the platform's URL leads to a private address and OUTBOUND_ALLOW_PRIVATE_NETWORKS
 *   is false (never retried: only a configuration change helps).
 */
export type GradebookErrorKind = 'unauthorized' | 'forbidden' | 'not_found' | 'bad_response' | 'unavailable' | 'timeout' | 'address_refused';

export class GradebookError extends Error {
  override readonly name = 'GradebookError';

  constructor(
    readonly kind: GradebookErrorKind,
    /** The URL path, never the query (it can carry user ids). */
    readonly path: string,
    readonly attempts: number,
    readonly status: number | undefined,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${kind}: ${path}${status === undefined ? '' : ` answered ${status}`} after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${detail}`, options);
  }
}

export function pathOf(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return '(invalid URL)';
  }
}
