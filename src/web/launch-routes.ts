import type { Request, Response } from 'express';
import type { LtijsIdToken, LtijsProvider } from 'ltijs';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Db } from '../db/database.js';
import type { PlatformService } from '../lti/platforms.js';
import type { AwardingService } from '../credentials/awarding.js';
import type { DefinitionService } from '../credentials/definitions.js';
import type { Config } from '../config.js';
import { contentSecurityPolicy, expiringLtik } from './request-security.js';
import { learnerCredentials, staffCredentials } from './credential-views.js';
import { mapRoles, primaryRole } from '../lti/roles.js';
import { toolUrls } from '../lti/tool-configuration.js';
import { renderError, renderPage, requestLanguage } from './render.js';
import { translator } from './i18n.js';
import { handle } from './async-handler.js';
import { IssuanceRefusal, type IssuanceService } from '../issuance/issuance-service.js';
import { verificationPageUrl } from './credential-downloads.js';
import { launchCourse, sessionUrl } from './launch-course.js';
import { DATABASE_UNAVAILABLE } from '../db/availability.js';
import { databaseUnavailable } from './database-outage.js';

interface Deps {
  lti: LtijsProvider;
  db: Db;
  platforms: PlatformService;
  awarding: AwardingService;
  issuance: IssuanceService;
  definitions: DefinitionService;
  logger: Logger;
  config: Pick<Config, 'publicUrl' | 'ltiEncryptionKey' | 'sessionMaxAgeMinutes'>;
}

/** The custom parameter a deep link sets when it places one credential in the course. */
export const CREDENTIAL_PARAMETER = 'credential_id';

/** The credential a placed link opens, if it names a valid one. */
function linkedCredential(token: LtijsIdToken): string | undefined {
  const id = z.string().uuid().safeParse((token.platformContext.custom as Record<string, unknown> | undefined)?.[CREDENTIAL_PARAMETER]);
  return id.success ? id.data : undefined;
}

/** LinkedIn's "Add to profile" form, filled in; it links to the public share page. */
function linkedInUrl(name: string, issuerName: string, issuedAt: Date, shareUrl: string, id: string): string {
  const q = new URLSearchParams({
    startTask: 'CERTIFICATION_NAME', name, organizationName: issuerName,
    issueYear: String(issuedAt.getUTCFullYear()), issueMonth: String(issuedAt.getUTCMonth() + 1), certUrl: shareUrl, certId: `urn:uuid:${id}`,
  });
  return `https://www.linkedin.com/profile/add?${q}`;
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

const deepLinkChoice = z.object({ target: z.union([z.literal('dashboard'), z.string().uuid()]) });

export function launchRoutes({ lti, db, platforms, awarding, issuance, definitions, logger, config }: Deps): void {
  const { publicUrl } = config;
  /**
   * ltijs answers the launch POST itself (ltiaas mode); send the browser on to a GET of the page
   * with an ltik that expires, so a reload does not post again.
   */
  const toSessionPage = async (req: Request, res: Response) => {
    const query = new URLSearchParams(res.locals.query as Record<string, string> | undefined);
    query.set('ltik', await expiringLtik(res.locals.ltik as string, config.ltiEncryptionKey, config.sessionMaxAgeMinutes));
    res.redirect(303, `${req.baseUrl}${req.path}?${query}`);
  };

  /** The learner's claim from the launch page: a page of the credential, however often it is pressed. */
  lti.app.post('/app/credentials/:id/claim', handle(async (req: Request, res: Response) => {
    const token = res.locals.token as LtijsIdToken;
    const course = await launchCourse(db, token);
    const id = z.string().uuid().safeParse(req.params.id);
    if (!course || !id.success) return renderError(req, res, 404, { reason: 'not_found' });
    try {
      const { issued } = await issuance.claim(course, id.data, token.user, { name: token.userInfo.name, email: token.userInfo.email });
      res.redirect(303, sessionUrl(`/app/issued/${issued.id}`, res));
    } catch (err) {
      if (err instanceof IssuanceRefusal) return renderError(req, res, 409, { reason: `claim.${err.reason}` });
      throw err;
    }
  }));

  const holderOnly = async (req: Request, res: Response) => {
    const token = res.locals.token as LtijsIdToken;
    const course = await launchCourse(db, token);
    const row = course && (await issuance.inCourse(course, String(req.params.id)));
    if (!row || row.user_id !== token.user) {
      renderError(req, res, 404, { reason: 'not_found' });
      return undefined;
    }
    return row;
  };

  lti.app.get('/app/issued/:id', handle(async (req: Request, res: Response) => {
    const row = await holderOnly(req, res);
    if (!row) return;
    const doc = row.document as { issuer: { name: string }; credentialSubject: { achievement: { name: string } } };
    const shareUrl = `${publicUrl}/credentials/${row.id}`;
    renderPage(req, res, 200, 'issued', {
      ltik: res.locals.ltik as string,
      issued: {
        id: row.id, name: doc.credentialSubject.achievement.name, issuerName: doc.issuer.name, revokedAt: row.revoked_at, shared: row.share_enabled,
        shareUrl, linkedInUrl: linkedInUrl(doc.credentialSubject.achievement.name, doc.issuer.name, row.issued_at, shareUrl, row.id),
        verifyUrl: verificationPageUrl(publicUrl, row.id),
      },
    });
  }));

  lti.app.post('/app/issued/:id/share', handle(async (req: Request, res: Response) => {
    const row = await holderOnly(req, res);
    if (!row) return;
    const enabled = z.enum(['true', 'false']).safeParse(req.body?.enabled);
    if (!enabled.success) return renderError(req, res, 400, { reason: 'bad_choice' });
    await issuance.setShared(row.id, enabled.data === 'true', row.user_id);
    res.redirect(303, sessionUrl(`/app/issued/${row.id}`, res));
  }));

  lti.onConnect(handle(async (token: LtijsIdToken, req: Request, res: Response) => {
    if (req.method === 'POST') return toSessionPage(req, res);
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
        const { name, given_name: givenName, family_name: familyName, email } = token.userInfo;
        const outcome = await awarding.evaluateLearner(contextRef, token.user, { userId: token.user, name, givenName, familyName, email, roles: ctx.roles ?? [], status: 'Active' });
        credentials = { learner: await learnerCredentials(db, contextRef, token.user, outcome, requestLanguage(req, res)) };
      } else if (view.role === 'staff') {
        credentials = { staff: await staffCredentials(db, contextRef) };
      }
    }
    renderPage(req, res, 200, 'launch', { view, ltik: res.locals.ltik as string, focusedCredential: linkedCredential(token) ?? null, ...credentials });
  }));

  lti.onDeepLinking(handle(async (token: LtijsIdToken, req: Request, res: Response) => {
    if (req.method === 'POST') return toSessionPage(req, res);
    const view = await launchViewModel(token, platforms);
    if (!view.roles.staff) return renderError(req, res, 403, { reason: 'staff_only' });
    const course = await launchCourse(db, token);
    renderPage(req, res, 200, 'deep-link', { view, ltik: res.locals.ltik as string, credentials: course ? await definitions.list(course) : [] });
  }));

  lti.app.post('/app/deep-link', handle(async (req: Request, res: Response) => {
    const token = res.locals.token as LtijsIdToken;
    const returnUrl = token.platformContext.deepLinkingSettings?.deep_link_return_url;
    if (token.platformContext.messageType !== 'LtiDeepLinkingRequest' || !returnUrl) return renderError(req, res, 400, { reason: 'not_deep_linking' });
    if (!mapRoles(token.platformContext.roles ?? []).staff) return renderError(req, res, 403, { reason: 'staff_only' });
    const choice = deepLinkChoice.safeParse(req.body);
    if (!choice.success) return renderError(req, res, 400, { reason: 'bad_choice' });
    const t = translator(requestLanguage(req, res));
    const course = await launchCourse(db, token);
    const { target } = choice.data;
    const credential = target === 'dashboard' || !course ? undefined : (await definitions.list(course)).find((c) => c.id === target);
    if (target !== 'dashboard' && !credential) return renderError(req, res, 404, { reason: 'not_found' });
    const item = credential
      ? { title: credential.definition.name, text: credential.definition.description, custom: { [CREDENTIAL_PARAMETER]: credential.id } }
      : { title: t('deepLink.dashboardTitle'), text: t('deepLink.dashboardText') };
    const message = await lti.DeepLinking.createDeepLinkingMessage(token, [{ type: 'ltiResourceLink', url: toolUrls({ publicUrl }).launch, ...item }], { message: t('deepLink.placed') });
    logger.info({ reqId: req.id, iss: token.iss, target }, 'deep link returned to platform');
    // The page posts the signed response to the platform: allow that one form target.
    res.set('content-security-policy', contentSecurityPolicy(res.locals.frameOrigins as string[], [new URL(returnUrl).origin]));
    renderPage(req, res, 200, 'deep-link-return', { returnUrl, message });
  }));

  const unavailable = databaseUnavailable(logger);
  lti.onInvalidToken(async (req, res) => {
    const reason = (res.locals.err as { details?: { message?: string } } | undefined)?.details?.message;
    // ltijs' session check met the database down, not a bad token.
    if (reason === DATABASE_UNAVAILABLE) return unavailable(req, res);
    logger.warn({ reqId: req.id, reason }, 'ltijs rejected a launch or session');
    renderError(req, res, 401, { reason: reason === 'jwt expired' ? 'session_expired' : 'invalid_session' });
  });
  lti.onSessionTimeout(async (req, res) => renderError(req, res, 401, { reason: 'session_expired' }));
  lti.onUnregisteredPlatform(async (req, res) => renderError(req, res, 400, { reason: 'unregistered_platform' }));
  lti.onInactivePlatform(async (req, res) => renderError(req, res, 403, { reason: 'inactive_platform' }));
}
