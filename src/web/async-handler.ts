import type { NextFunction } from 'express';

/**
 * Express 4 (and ltijs' callbacks) ignore rejected promises; route them to the error handler
 * instead of hanging the request. `next` is the last argument the caller passes.
 */
export function handle<F extends (...args: any[]) => unknown>(fn: F): (...args: Parameters<F>) => void {
  return (...args) => {
    const next = args.findLast((a): a is NextFunction => typeof a === 'function');
    Promise.resolve()
      .then(() => fn(...args))
      .catch((err: unknown) => next?.(err));
  };
}
