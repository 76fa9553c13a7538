import type { Express, Request, Response } from 'express';
import * as jose from 'jose';
import { createLineItem } from './ags.js';
import type { PlatformContext } from './context.js';
import { escapeHtml, fetchToolJwks, htmlDocument, isHttpUrl, isRecord, param, sendErrorPage } from './http-util.js';
import type { PendingDeepLink } from './store.js';
import type { DeepLinkingResponseRecord } from './types.js';
import { CLAIM } from './vocabulary.js';

const CLOCK_SKEW_SECONDS = 60;

class DeepLinkError extends Error {}

/** The pending deep linking request this response answers: Moodle keys it by the return URL, Canvas by `data`. */
function pendingFor(ctx: PlatformContext, req: Request, payload: jose.JWTPayload): PendingDeepLink {
  let ref: unknown;
  if (ctx.profile.flavor === 'moodle') {
    ref = param(req.query, 'sesskey');
  } else {
    const data = payload[CLAIM.deepLinkingData];
    const unsealed = typeof data === 'string' ? ctx.keys().unseal(data) : undefined;
    ref = (unsealed as { deepLink?: unknown } | undefined)?.deepLink;
  }
  const pending = typeof ref === 'string' ? ctx.store.pendingDeepLinks.take(ref) : undefined;
  if (!pending) throw new DeepLinkError('this deep linking response does not answer a pending request (unknown, expired or already answered)');
  return pending;
}

/** Verifies an LtiDeepLinkingResponse JWT against the tool's JWKS (LTI DL 2.0 §4.2). */
async function verifyResponse(ctx: PlatformContext, req: Request, jwt: string): Promise<{ payload: jose.JWTPayload; pending: PendingDeepLink }> {
  let unverified: jose.JWTPayload;
  try {
    unverified = jose.decodeJwt(jwt);
  } catch {
    throw new DeepLinkError('JWT is not a JWT');
  }
  const tool = typeof unverified.iss === 'string' ? ctx.store.tools.get(unverified.iss) : undefined;
  if (!tool) throw new DeepLinkError('iss is not the client_id of a registered tool');
  let payload: jose.JWTPayload;
  try {
    const jwks = await fetchToolJwks(tool.jwksUri);
    ({ payload } = await jose.jwtVerify(jwt, jose.createLocalJWKSet(jwks), {
      algorithms: ['RS256'],
      issuer: tool.clientId,
      audience: ctx.base(),
      clockTolerance: CLOCK_SKEW_SECONDS,
      requiredClaims: ['exp', 'iat', 'nonce'],
    }));
  } catch (error) {
    throw new DeepLinkError(`JWT rejected: ${(error as Error).message}`);
  }
  if (payload[CLAIM.messageType] !== 'LtiDeepLinkingResponse') throw new DeepLinkError('message_type must be LtiDeepLinkingResponse');
  if (payload[CLAIM.version] !== '1.3.0') throw new DeepLinkError('version must be 1.3.0');
  const pending = pendingFor(ctx, req, payload);
  if (pending.clientId !== tool.clientId) throw new DeepLinkError('the response comes from another tool than the request went to');
  if (payload[CLAIM.deploymentId] !== pending.deploymentId) throw new DeepLinkError('deployment_id does not match the request');
  const items = payload[CLAIM.deepLinkingContentItems];
  if (items !== undefined && !(Array.isArray(items) && items.every(isRecord))) throw new DeepLinkError('content_items must be an array of objects');
  return { payload, pending };
}

/** Creates the resource links (and line items) that ltiResourceLink items describe, as the LMS does on save. */
function createLinks(ctx: PlatformContext, pending: PendingDeepLink, items: Record<string, unknown>[]): string[] {
  const created: string[] = [];
  for (const item of items) {
    if (item.type !== 'ltiResourceLink') continue;
    const id = String(ctx.store.next('resourceLink'));
    const title = typeof item.title === 'string' ? item.title : 'Untitled';
    const custom = isRecord(item.custom) ? Object.fromEntries(Object.entries(item.custom).map(([k, v]) => [k, String(v)])) : {};
    ctx.store.putResourceLink({
      id,
      courseId: pending.courseId,
      title,
      toolClientId: pending.clientId,
      customParameters: custom,
      ...(isHttpUrl(item.url) ? { targetLinkUri: item.url } : {}),
    });
    const lineItem = item.lineItem;
    if (isRecord(lineItem) && typeof lineItem.scoreMaximum === 'number') {
      createLineItem(ctx, pending.courseId, {
        label: typeof lineItem.label === 'string' ? lineItem.label : title,
        scoreMaximum: lineItem.scoreMaximum,
        resourceLinkId: id,
        ...(typeof lineItem.resourceId === 'string' ? { resourceId: lineItem.resourceId } : {}),
        ...(typeof lineItem.tag === 'string' ? { tag: lineItem.tag } : {}),
        toolClientId: pending.clientId,
      });
    }
    created.push(id);
  }
  return created;
}

async function receive(ctx: PlatformContext, req: Request, res: Response): Promise<void> {
  const jwt = param(req.body, 'JWT');
  if (!jwt) return sendErrorPage(res, 400, 'Invalid deep linking response', 'The JWT form parameter is missing.');
  let verified: Awaited<ReturnType<typeof verifyResponse>>;
  try {
    verified = await verifyResponse(ctx, req, jwt);
  } catch (error) {
    if (error instanceof DeepLinkError) return sendErrorPage(res, 400, 'Invalid deep linking response', error.message);
    throw error;
  }
  const { payload, pending } = verified;
  const items = (payload[CLAIM.deepLinkingContentItems] as Record<string, unknown>[] | undefined) ?? [];
  const msg = payload[CLAIM.deepLinkingMsg];
  const errormsg = payload[CLAIM.deepLinkingErrorMsg];
  const record: DeepLinkingResponseRecord = {
    clientId: pending.clientId,
    deploymentId: pending.deploymentId,
    courseId: pending.courseId,
    userId: pending.userId,
    contentItems: items,
    ...(typeof msg === 'string' ? { msg } : {}),
    ...(typeof errormsg === 'string' ? { errormsg } : {}),
    createdResourceLinkIds: createLinks(ctx, pending, items),
    receivedAt: Date.now(),
  };
  ctx.store.deepLinkingResponses.push(record);
  const list = items.map((i) => `<li>${escapeHtml(String(i.type))}: ${escapeHtml(typeof i.title === 'string' ? i.title : '')}</li>`).join('');
  res
    .type('html')
    .send(
      htmlDocument(
        'Content added',
        `<header>${escapeHtml(ctx.platformName)}</header><main><p>${items.length} item(s) received.</p><ul>${list}</ul>${
          typeof msg === 'string' ? `<p>${escapeHtml(msg)}</p>` : ''
        }</main>`,
      ),
    );
}

export function mountDeepLinkingRoutes(app: Express, ctx: PlatformContext): void {
  app.post(ctx.profile.routes.deepLinkReturn, (req, res, next) => receive(ctx, req, res).catch(next));
}
