import type { NextFunction, Request, Response } from 'express';
import { performance } from 'node:perf_hooks';
import { LmsWait, withLmsWait } from '../gradebook/lms-wait.js';

/**
 * Server-Timing on every answer: the time spent waiting on the LMS's services and the whole, so
 * the tool's own time is the difference (browser developer tools show both; `npm run bench` uses them).
 */
export function serverTiming(_req: Request, res: Response, next: NextFunction): void {
  const wait = new LmsWait();
  const started = performance.now();
  const writeHead = res.writeHead;
  res.writeHead = function (this: Response, ...args: Parameters<typeof writeHead>) {
    this.setHeader('server-timing', `lms;dur=${wait.ms.toFixed(1)};desc="LMS services", total;dur=${(performance.now() - started).toFixed(1)}`);
    return writeHead.apply(this, args);
  } as typeof writeHead;
  withLmsWait(wait, next);
}
