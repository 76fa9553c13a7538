import express, { Router, type Express, type NextFunction, type Request, type Response } from 'express';
import { isSameOriginRequest } from '../lti/launch-security.js';
import type { LtijsIdToken, LtijsProvider } from 'ltijs';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Config } from '../config.js';
import { auditActions, readAudit, recordAudit, type AuditScope } from '../db/audit.js';
import type { Db } from '../db/database.js';
import type { FieldError } from '../credentials/definition-schema.js';
import { IssuerNotFoundError, type IssuerService, type ProfileRow, SLUG_TAKEN } from '../issuance/issuers.js';
import { PlatformNotFoundError, type PlatformService, type PlatformSummary } from '../lti/platforms.js';
import { mapRoles, primaryRole } from '../lti/roles.js';
import { handle } from './async-handler.js';
import { AdminSessions, LoginThrottle } from './admin-session.js';
import { renderPage } from './render.js';
import { access, adminError, adminPage, adminView, formFields, localOnly, type AdminAccess } from './admin-page.js';
import { registrarScreens } from './admin-registrar-routes.js';
import type { PathwayService } from '../credentials/pathways.js';
import type { LearnerRecords } from '../credentials/learner-records.js';
import { MAX_PROOF_CHECK_BYTES } from '../issuance/verification.js';

/**
 * The admin screens, reached two ways with one set of handlers:
 * - the local admin at /admin, signed in with ADMIN_PASSWORD, sees and manages every platform;
 * - an LTI launch with an administrator role at /app/admin, which sees only its own platform and
 *   the (installation-wide) issuers, pathways and accepted issuers read-only, and the records of
 *   its own platform's learners. See docs/admin.md for the reasons.
 */

interface Deps {
  app: Express;
  lti: LtijsProvider;
  config: Config;
  db: Db;
  platforms: PlatformService;
  issuers: IssuerService;
  pathways: PathwayService;
  records: LearnerRecords;
  logger: Logger;
}

const LOCAL_ADMIN_ACTOR = 'local-admin';
const AUDIT_PAGE_SIZE = 50;
const ISSUER_FIELDS = ['slug', 'name', 'url', 'email', 'countryCode', 'description', 'imageUrl'] as const;
type IssuerField = (typeof ISSUER_FIELDS)[number];

/** An LTI user as the audit log names them: user ids are unique only within a platform. */
function ltiActor(issuer: string, clientId: string, user: string): string {
  return `lti ${encodeURIComponent(issuer)} ${encodeURIComponent(clientId)} ${user}`;
}
const platformTarget = (issuer: string, clientId: string) => `${issuer} ${clientId}`;

const ownsPlatform = (a: AdminAccess, issuer: string, clientId: string) => a.kind === 'local' || (a.issuer === issuer && a.clientId === clientId);

/** Field errors keyed by field; each names an admin.issuers.errors key, so it is shown in the user's language. */
function issuerFieldErrors(errors: FieldError[]): Partial<Record<IssuerField, string>> {
  const out: Partial<Record<IssuerField, string>> = {};
  for (const e of errors) {
    const field = e.path.replace(/^\//, '').split('/')[0] as IssuerField;
    if (!ISSUER_FIELDS.includes(field) || out[field]) continue;
    out[field] = field === 'slug' && e.message === SLUG_TAKEN ? 'slugTaken' : field;
  }
  return out;
}

function profileValues(row: ProfileRow): Partial<Record<IssuerField, string>> {
  return {
    slug: row.slug, name: row.name, url: row.url ?? '', email: row.email ?? '', countryCode: row.country_code ?? '',
    description: row.description ?? '', imageUrl: row.image_url ?? '',
  };
}

const platformForm = z.object({ issuer: z.string().min(1).max(2000), clientId: z.string().min(1).max(500) });
const deploymentForm = platformForm.extend({ deploymentId: z.string().trim().min(1).max(255) });
const auditQuery = z.object({
  page: z.coerce.number().int().min(1).max(1_000_000).default(1),
  action: z.string().regex(/^[a-z_.]{1,100}$/).optional().or(z.literal('').transform(() => undefined)),
});

/** The screens themselves, parameterized by res.locals.adminAccess. */
function adminScreens({ db, platforms, issuers, pathways, records }: Pick<Deps, 'db' | 'platforms' | 'issuers' | 'pathways' | 'records'>): Router {
  const router = Router();
  router.use(express.urlencoded({ extended: false, limit: '16kb' }));

  const visiblePlatforms = async (a: AdminAccess): Promise<PlatformSummary[]> =>
    a.kind === 'local' ? platforms.list() : [await platforms.get(a.issuer, a.clientId)];

  router.get('/', (_req, res) => res.redirect(303, adminView(access(res)).href('/platforms')));

  router.get('/platforms', handle(async (req: Request, res: Response) => {
    const all = await visiblePlatforms(access(res));
    adminPage(req, res, 200, 'platforms', { pending: all.filter((p) => !p.active), active: all.filter((p) => p.active) });
  }));

  router.post('/platforms/:change(activate|deactivate)', handle(async (req: Request, res: Response) => {
    const a = access(res);
    const form = platformForm.safeParse(req.body);
    if (!form.success) return adminError(req, res, 400, 'badForm');
    const { issuer, clientId } = form.data;
    // Another platform's registration does not exist as far as an LTI admin can tell.
    if (!ownsPlatform(a, issuer, clientId)) return adminError(req, res, 404, 'notFound');
    // An LTI admin's own platform: deactivating it would end every launch, theirs included.
    if (a.kind === 'lti') return adminError(req, res, 403, 'ownPlatform');
    try {
      await platforms.setActive(issuer, clientId, req.params.change === 'activate', a.actor);
    } catch (err) {
      if (err instanceof PlatformNotFoundError) return adminError(req, res, 404, 'notFound');
      throw err;
    }
    res.redirect(303, adminView(a).href('/platforms'));
  }));

  // Adding a deployment only lets more launches in, so an LTI admin may do it for their own platform.
  router.post('/platforms/deployments', handle(async (req: Request, res: Response) => {
    const a = access(res);
    const form = deploymentForm.safeParse(req.body);
    if (!form.success) return adminError(req, res, 400, 'badForm');
    const { issuer, clientId, deploymentId } = form.data;
    if (!ownsPlatform(a, issuer, clientId)) return adminError(req, res, 404, 'notFound');
    try {
      await platforms.addDeployment(issuer, clientId, deploymentId, a.actor);
    } catch (err) {
      if (err instanceof PlatformNotFoundError) return adminError(req, res, 404, 'notFound');
      throw err;
    }
    res.redirect(303, adminView(a).href('/platforms'));
  }));

  router.get('/issuers', handle(async (req: Request, res: Response) => {
    const all = await issuers.list();
    adminPage(req, res, 200, 'issuers', {
      issuers: all.map((i) => ({ slug: i.slug, name: i.name, did: i.did, isDefault: i.is_default, currentKey: i.keys.find((k) => !k.retired_at)?.id ?? '' })),
    });
  }));

  // Issuers sign for every platform, so only the local admin changes them.
  const issuersLocalOnly = localOnly('issuersLocalOnly');

  router.get('/issuers/new', issuersLocalOnly, (req, res) => adminPage(req, res, 200, 'issuer', { issuer: null, values: {}, errors: {}, keys: [] }));

  router.post('/issuers', issuersLocalOnly, handle(async (req: Request, res: Response) => {
    const values = formFields(req.body, ISSUER_FIELDS);
    const created = await issuers.create(values, access(res).actor);
    if (!created.ok) return adminPage(req, res, 400, 'issuer', { issuer: null, values, errors: issuerFieldErrors(created.errors), keys: [] });
    res.redirect(303, adminView(access(res)).href(`/issuers/${created.issuer.slug}`));
  }));

  const issuerOr404 = async (req: Request, res: Response): Promise<ProfileRow | undefined> => {
    try {
      return await issuers.bySlug(String(req.params.slug));
    } catch (err) {
      if (!(err instanceof IssuerNotFoundError)) throw err;
      adminError(req, res, 404, 'notFound');
      return undefined;
    }
  };
  const issuerPage = async (req: Request, res: Response, row: ProfileRow, status: number, extra: Record<string, unknown> = {}) =>
    adminPage(req, res, status, 'issuer', { issuer: { slug: row.slug, isDefault: row.is_default }, values: profileValues(row), errors: {}, keys: await issuers.keysOf(row.id), ...extra });

  router.get('/issuers/:slug', handle(async (req: Request, res: Response) => {
    const row = await issuerOr404(req, res);
    if (row) await issuerPage(req, res, row, 200, { rotated: req.query.rotated === '1' });
  }));

  router.post('/issuers/:slug', issuersLocalOnly, handle(async (req: Request, res: Response) => {
    const row = await issuerOr404(req, res);
    if (!row) return;
    const values = formFields(req.body, ISSUER_FIELDS.filter((f) => f !== 'slug'));
    const updated = await issuers.update(row.slug, values, access(res).actor);
    if (!updated.ok) return issuerPage(req, res, row, 400, { values: { ...values, slug: row.slug }, errors: issuerFieldErrors(updated.errors) });
    res.redirect(303, adminView(access(res)).href(`/issuers/${row.slug}`));
  }));

  router.post('/issuers/:slug/rotate', issuersLocalOnly, handle(async (req: Request, res: Response) => {
    const row = await issuerOr404(req, res);
    if (!row) return;
    if (req.body?.confirm !== 'yes') return issuerPage(req, res, row, 400, { rotateError: true });
    await issuers.rotateKey(row.slug, access(res).actor);
    res.redirect(303, adminView(access(res)).href(`/issuers/${row.slug}`, { rotated: 1 }));
  }));

  router.get('/audit', handle(async (req: Request, res: Response) => {
    const a = access(res);
    const query = auditQuery.safeParse(req.query);
    if (!query.success) return adminError(req, res, 400, 'badQuery');
    const scope: AuditScope = a.kind === 'local' ? { kind: 'all' } : { kind: 'platform', target: platformTarget(a.issuer, a.clientId) };
    const { page, action } = query.data;
    const [entries, actions] = await Promise.all([readAudit(db, scope, { action, page, pageSize: AUDIT_PAGE_SIZE }), auditActions(db, scope)]);
    adminPage(req, res, 200, 'audit', {
      entries: entries.entries.map((e) => ({ ...e, details: JSON.stringify(e.details) })),
      actions, action: action ?? '', page,
      previous: page > 1 ? { page: page - 1, action } : null,
      next: entries.hasNext ? { page: page + 1, action } : null,
    });
  }));

  router.use(registrarScreens({ db, issuers, pathways, records }));
  return router;
}

/** A state-changing request must come from the tool's own pages (the check csrfGuard makes for /app). */
function sameOrigin(publicUrl: string) {
  return (req: Request, res: Response, next: NextFunction) => {
    if (req.method === 'POST' && !isSameOriginRequest(req, publicUrl)) return adminError(req, res, 403, 'foreignOrigin');
    next();
  };
}

export function adminRoutes({ app, lti, config, db, platforms, issuers, pathways, records, logger }: Deps): void {
  const screens = adminScreens({ db, platforms, issuers, pathways, records });

  // Through an LTI launch: ltijs has checked the ltik, csrfGuard the origin; the role must be an administrator's.
  lti.app.use('/app/admin', (req: Request, res: Response, next: NextFunction) => {
    const token = res.locals.token as LtijsIdToken;
    if (primaryRole(mapRoles(token.platformContext.roles ?? [])) !== 'admin') return adminError(req, res, 403, 'adminOnly');
    res.locals.adminAccess = { kind: 'lti', actor: ltiActor(token.iss, token.clientId, token.user), issuer: token.iss, clientId: token.clientId, ltik: res.locals.ltik as string } satisfies AdminAccess;
    next();
  }, screens);

  // The tool's own page, signed in with ADMIN_PASSWORD.
  const local = Router();
  app.use('/admin', local);
  const password = config.adminPassword;
  if (password === undefined) {
    local.use((req, res) => renderPage(req, res, req.path === '/' && req.method === 'GET' ? 200 : 404, 'admin/off', {}));
    return;
  }
  const sessions = new AdminSessions(password, config.ltiEncryptionKey, config.publicUrl.startsWith('https://'));
  const throttle = new LoginThrottle();
  const form = express.urlencoded({ extended: false, limit: '16kb' });
  const address = (req: Request) => req.ip ?? 'unknown';
  const retryMinutes = (ms: number) => String(Math.ceil(ms / 60_000));

  local.use(sameOrigin(config.publicUrl));
  local.get('/login', (req, res) => renderPage(req, res, 200, 'admin/login', { failed: false }));
  local.post('/login', form, handle(async (req: Request, res: Response) => {
    const wait = throttle.waitFor(address(req));
    if (wait > 0) {
      res.setHeader('retry-after', String(Math.ceil(wait / 1000)));
      return adminError(req, res, 429, 'throttled', { minutes: retryMinutes(wait) });
    }
    const given = typeof req.body?.password === 'string' ? req.body.password : '';
    if (!sessions.passwordMatches(given)) {
      throttle.failed(address(req));
      if (throttle.waitFor(address(req)) > 0) {
        logger.warn({ reqId: req.id, ip: address(req) }, 'local admin sign-in locked after repeated failures');
        await recordAudit(db, 'anonymous', 'admin.login_locked', 'local-admin', { ip: address(req) });
      }
      return renderPage(req, res, 401, 'admin/login', { failed: true });
    }
    throttle.succeeded(address(req));
    sessions.start(res);
    await recordAudit(db, LOCAL_ADMIN_ACTOR, 'admin.login', 'local-admin', { ip: address(req) });
    res.redirect(303, '/admin/platforms');
  }));

  // A credential pasted for import is larger than any other admin form (the session check still follows).
  local.post('/records/:learnerId/imports', express.urlencoded({ extended: false, limit: MAX_PROOF_CHECK_BYTES + 16 * 1024 }));
  local.use(form, handle(async (req: Request, res: Response, next: NextFunction) => {
    const session = sessions.read(req);
    if (req.method !== 'POST') {
      if (!session) return res.redirect(303, '/admin/login');
    } else if (!session || !sessions.csrfMatches(session, req.body?.csrf)) {
      return adminError(req, res, 403, 'csrf');
    }
    res.locals.adminAccess = { kind: 'local', actor: LOCAL_ADMIN_ACTOR, csrfToken: sessions.csrfToken(session) } satisfies AdminAccess;
    next();
  }));
  local.post('/logout', handle(async (_req: Request, res: Response) => {
    sessions.end(res);
    await recordAudit(db, LOCAL_ADMIN_ACTOR, 'admin.logout', 'local-admin', {});
    res.redirect(303, '/admin/login');
  }));
  local.use(screens);
}
