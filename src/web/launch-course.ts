import type { Request, Response } from 'express';
import type { LtijsIdToken } from 'ltijs';
import type { CourseRef } from '../credentials/definitions.js';
import type { Db } from '../db/database.js';
import { mapRoles } from '../lti/roles.js';
import { renderError } from './render.js';

/** The course of a launch, keyed by platform + deployment + context; undefined for a launch outside a course. */
export async function launchCourse(db: Db, token: LtijsIdToken): Promise<CourseRef | undefined> {
  const contextId = token.platformContext.context?.id;
  if (!contextId) return undefined;
  const row = await db.selectFrom('lti_context').select('id')
    .where('issuer', '=', token.iss).where('client_id', '=', token.clientId)
    .where('deployment_id', '=', token.deploymentId).where('context_id', '=', contextId).executeTakeFirst();
  return row && { contextRef: row.id, issuer: token.iss, clientId: token.clientId };
}

/** The launch's course when the user is its staff; otherwise the 404 or 403 page is sent, and undefined. */
export async function staffCourse(db: Db, req: Request, res: Response): Promise<CourseRef | undefined> {
  const token = res.locals.token as LtijsIdToken;
  const course = await launchCourse(db, token);
  if (!course) {
    renderError(req, res, 404, { reason: 'not_found' });
    return undefined;
  }
  if (!mapRoles(token.platformContext.roles ?? []).staff) {
    renderError(req, res, 403, { reason: 'staff_only' });
    return undefined;
  }
  return course;
}

/** A link within the session: the path with this request's ltik and the given query parameters. */
export function sessionUrl(path: string, res: Response, params: Record<string, string | number | undefined> = {}): string {
  const query = new URLSearchParams({ ltik: res.locals.ltik as string });
  for (const [k, v] of Object.entries(params)) if (v !== undefined) query.set(k, String(v));
  return `${path}?${query}`;
}
