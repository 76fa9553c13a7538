import type { Request, Response } from 'express';
import express from 'express';
import type { LtijsIdToken, LtijsProvider } from 'ltijs';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Db } from '../db/database.js';
import type { PlatformService } from '../lti/platforms.js';
import type { AwardingService } from '../credentials/awarding.js';
import { learnerCredentials, staffCredentials } from './credential-views.js';
import { mapRoles, primaryRole } from '../lti/roles.js';
import { toolUrls } from '../lti/tool-configuration.js';
import { renderError, renderPage, requestLanguage } from './render.js';
import { translator } from './i18n.js';
import { handle } from './async-handler.js';

interface Deps {
  lti: LtijsProvider;
  db: Db;
  platforms: PlatformService;
  awarding: AwardingService;
  logger: Logger;
  publicUrl: string;
}

/** What the landing page shows: who, where, and what this role can do next. */
export async function launchViewModel(token: LtijsIdToken, platforms: PlatformService) {
  const ctx = token.platformContext;
  const roles = mapRoles(ctx.roles ?? []);
  const role = primaryRole(roles);
  const platform = await platforms.get(token.iss, token.clientId);
  return {
    role,
    roles,
    course: { title: ctx.context?.title ?? null, label: ctx.context?.label ?? null },
    user: { name: token.userInfo.name ?? ([token.userInfo.given_name, token.userInfo.family_name].filter(Boolean).join(' ') || null), email: token.userInfo.email ?? null },
    resourceTitle: ctx.resource?.title ?? null,
    platform: { name: token.platformInfo?.name ?? platform.name, issuer: platform.issuer, deploymentId: token.deploymentId },
    // An administrator sees the registration of the platform they came from, never another's.
    registration: role === 'admin' ? platform : null,
  };
}

const deepLinkChoice = z.object({ target: z.enum(['dashboard']) });

export function launchRoutes({ lti, db, platforms, awarding, logger, publicUrl }: Deps): void {
  lti.onConnect(handle(async (token: LtijsIdToken, req: Request, res: Response) => {
    const ctx = token.platformContext;
    const view = await launchViewModel(token, platforms);
    let credentials = {};
    if (ctx.context?.id) {
      const services = {
        title: ctx.context.title ?? null,
        label: ctx.context.label ?? null,
        last_launch_at: new Date(),
        ags_lineitems_url: ctx.endpoint?.lineitems ?? null,
        ags_scopes: ctx.endpoint?.scope ?? [],
        nrps_memberships_url: ctx.namesRoles?.context_memberships_url ?? null,
      };
      const { id: contextRef } = await db.insertInto('lti_context').values({
        issuer: token.iss, client_id: token.clientId, deployment_id: token.deploymentId, context_id: ctx.context.id, ...services,
      }).onConflict((oc) => oc.columns(['issuer', 'client_id', 'deployment_id', 'context_id']).doUpdateSet(services)).returning('id').executeTakeFirstOrThrow();
      if (view.role === 'learner') {
        // Each learner launch reads that learner's results, so a verdict is never older than the visit.
        const outcome = await awarding.evaluateLearner(contextRef, token.user);
        credentials = { learner: await learnerCredentials(db, contextRef, token.user, outcome, requestLanguage(req, res)) };
      } else if (view.role === 'staff') {
        credentials = { staff: await staffCredentials(db, contextRef) };
      }
    }
    renderPage(req, res, 200, 'launch', { view, ltik: res.locals.ltik as string, ...credentials });
  }));

  lti.onDeepLinking(handle(async (token: LtijsIdToken, req: Request, res: Response) => {
    const view = await launchViewModel(token, platforms);
    if (!view.roles.staff) return renderError(req, res, 403, { reason: 'staff_only' });
    renderPage(req, res, 200, 'deep-link', { view, ltik: res.locals.ltik as string });
  }));

  lti.app.post('/app/deep-link', express.urlencoded({ extended: false, limit: '16kb' }), handle(async (req: Request, res: Response) => {
    const token = res.locals.token as LtijsIdToken;
    if (token.platformContext.messageType !== 'LtiDeepLinkingRequest') return renderError(req, res, 400, { reason: 'not_deep_linking' });
    if (!mapRoles(token.platformContext.roles ?? []).staff) return renderError(req, res, 403, { reason: 'staff_only' });
    const choice = deepLinkChoice.safeParse(req.body);
    if (!choice.success) return renderError(req, res, 400, { reason: 'bad_choice' });
    const t = translator(requestLanguage(req, res));
    const form = await lti.DeepLinking.createDeepLinkingForm(token, [{
      type: 'ltiResourceLink',
      title: t('deepLink.dashboardTitle'),
      text: t('deepLink.dashboardText'),
      url: toolUrls({ publicUrl }).launch,
      custom: { microcred_view: choice.data.target },
    }], { message: t('deepLink.placed') });
    logger.info({ reqId: req.id, iss: token.iss, target: choice.data.target }, 'deep link returned to platform');
    res.type('html').send(form);
  }));

  lti.onInvalidToken(async (req, res) => {
    logger.warn({ reqId: req.id, reason: (res.locals.err as { details?: { message?: string } } | undefined)?.details?.message }, 'ltijs rejected a launch or session');
    renderError(req, res, 401, { reason: 'invalid_session' });
  });
  lti.onSessionTimeout(async (req, res) => renderError(req, res, 401, { reason: 'session_expired' }));
  lti.onUnregisteredPlatform(async (req, res) => renderError(req, res, 400, { reason: 'unregistered_platform' }));
  lti.onInactivePlatform(async (req, res) => renderError(req, res, 403, { reason: 'inactive_platform' }));
}
