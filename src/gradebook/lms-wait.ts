import { AsyncLocalStorage } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';

/**
 * How long a request of ours spent waiting on the LMS's services (AGS, NRPS, tokens): the time
 * with at least one call in flight, so parallel calls count once. Pages report it as a
 * Server-Timing entry, which tells the tool's own time from the LMS's in a browser's developer
 * tools and in the launch benchmark.
 */
export class LmsWait {
  private inFlight = 0;
  private since = 0;
  private total = 0;

  begin(): void {
    if (this.inFlight++ === 0) this.since = performance.now();
  }

  end(): void {
    if (--this.inFlight === 0) this.total += performance.now() - this.since;
  }

  get ms(): number {
    return this.total + (this.inFlight ? performance.now() - this.since : 0);
  }
}

const current = new AsyncLocalStorage<LmsWait>();

/** Runs `fn` (a request's handling) with its own LmsWait, which calls made within it add to. */
export function withLmsWait<T>(wait: LmsWait, fn: () => T): T {
  return current.run(wait, fn);
}

/** Times one call to the LMS against the request that made it, if any. */
export async function waitingOnLms<T>(call: () => Promise<T>): Promise<T> {
  const wait = current.getStore();
  wait?.begin();
  try {
    return await call();
  } finally {
    wait?.end();
  }
}
