import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import { DATABASE_RETRY_AFTER_S, DATABASE_UNAVAILABLE, describeUnavailable } from '../db/availability.js';
import { renderError } from './render.js';

/** `err`: the connection error, when the code that met it passed it on (ltijs keeps only a message). */
export type AnswerUnavailable = (req: Request, res: Response, err?: unknown) => void;

/**
 * Answers a request the database could not serve: 503 with Retry-After, the page or
 * `{error: "database_unavailable", message}` in the user's language, and one warning without secrets.
 */
export function databaseUnavailable(logger: Logger): AnswerUnavailable {
  return (req, res, err) => {
    logger.warn({ reqId: req.id, path: req.path, ...(err === undefined ? {} : { cause: describeUnavailable(err) }) }, 'database unavailable; answered 503');
    res.set('retry-after', String(DATABASE_RETRY_AFTER_S));
    renderError(req, res, 503, { reason: 'database_unavailable' });
  };
}

/** The body ltijs sends when one of its own routes (login, key set) fails: `{status, error, details: {message}}`. */
function isLtijsOutageAnswer(status: number, body: unknown): boolean {
  return status === 500 && (body as { details?: { message?: unknown } } | null)?.details?.message === DATABASE_UNAVAILABLE;
}

/**
 * ltijs answers a failure of its own routes itself, with 500 and the error's message. When the
 * message says the database was unreachable, the answer becomes ours instead.
 */
export function ltijsOutageAnswers(answer: AnswerUnavailable) {
  return (req: Request, res: Response, next: NextFunction) => {
    const send = res.send.bind(res);
    res.send = (body?: unknown) => {
      if (!isLtijsOutageAnswer(res.statusCode, body)) return send(body);
      res.send = send;
      answer(req, res);
      return res;
    };
    next();
  };
}
