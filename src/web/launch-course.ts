import type { LtijsIdToken } from 'ltijs';
import type { CourseRef } from '../credentials/definitions.js';
import type { Db } from '../db/database.js';

/** The course of a launch, keyed by platform + deployment + context; undefined for a launch outside a course. */
export async function launchCourse(db: Db, token: LtijsIdToken): Promise<CourseRef | undefined> {
  const contextId = token.platformContext.context?.id;
  if (!contextId) return undefined;
  const row = await db.selectFrom('lti_context').select('id')
    .where('issuer', '=', token.iss).where('client_id', '=', token.clientId)
    .where('deployment_id', '=', token.deploymentId).where('context_id', '=', contextId).executeTakeFirst();
  return row && { contextRef: row.id, issuer: token.iss, clientId: token.clientId };
}
