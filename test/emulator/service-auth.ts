import type { Request, Response } from 'express';
import type { PlatformContext } from './context.js';
import { mediaType } from './http-util.js';
import type { RegisteredTool } from './types.js';

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  422: 'Unprocessable Entity',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
};

const CANVAS_ERROR_TYPES: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  422: 'unprocessable_entity',
  429: 'too_many_requests',
  500: 'internal_server_error',
};

/** An AGS/NRPS error in the flavor's own shape (mod/lti response::send() for Moodle, render_error for Canvas). */
export function serviceError(ctx: PlatformContext, req: Request, res: Response, status: number, message?: string): void {
  if (ctx.profile.flavor === 'moodle') {
    const request: Record<string, string> = { method: req.method, url: req.originalUrl };
    const accept = req.get('accept');
    if (accept !== undefined) request.accept = accept;
    const contentType = req.get('content-type');
    if (contentType !== undefined) request.contentType = mediaType(contentType);
    res
      .status(status)
      .type('application/json; charset=utf-8')
      .send(JSON.stringify({ status, reason: message ?? REASONS[status] ?? 'Error', request }, null, 4));
    return;
  }
  res.status(status).json({ errors: { type: CANVAS_ERROR_TYPES[status] ?? 'error', message: message ?? REASONS[status] ?? 'Error' } });
}

export function bearerToken(req: Request): string | undefined {
  const match = /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '');
  return match?.[1];
}

export interface ServiceCaller {
  tool: RegisteredTool;
  scopes: string[];
}

/**
 * Checks the access token and that it carries one of `anyOfScopes`. Both Moodle (check_tool → 401) and
 * Canvas (verify_access_scope → 401 "Insufficient permissions") answer a missing scope with 401, not 403.
 */
export function authorizeService(
  ctx: PlatformContext,
  req: Request,
  res: Response,
  anyOfScopes: readonly string[],
): ServiceCaller | undefined {
  const token = bearerToken(req);
  if (!token) {
    serviceError(ctx, req, res, 401, 'Missing access token');
    return undefined;
  }
  const record = ctx.store.accessTokens.get(token);
  if (!record) {
    serviceError(ctx, req, res, 401, 'Invalid or expired access token');
    return undefined;
  }
  res.locals.scope = record.scopes.join(' ');
  const tool = ctx.store.tools.get(record.clientId);
  if (!tool || tool.status !== 'active') {
    serviceError(ctx, req, res, 401, 'Unknown or inactive tool');
    return undefined;
  }
  if (!record.scopes.some((s) => anyOfScopes.includes(s))) {
    serviceError(ctx, req, res, 401, 'Insufficient permissions');
    return undefined;
  }
  return { tool, scopes: record.scopes };
}
