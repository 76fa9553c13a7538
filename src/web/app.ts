import express, { type Express, type Request, type Response } from 'express';
import type { LtijsProvider } from 'ltijs';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { pinoHttp } from 'pino-http';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Database } from '../db/database.js';
import { cookieCheck, launchGuard, loginGuard } from '../lti/launch-security.js';
import { PlatformOrigins } from '../lti/platform-origins.js';
import { csrfGuard, securityHeaders } from './request-security.js';
import { serverTiming } from './server-timing.js';
import { RateLimiter, rateLimited } from './rate-limit.js';
import { PlatformService } from '../lti/platforms.js';
import { AwardingService } from '../credentials/awarding.js';
import { DefinitionService } from '../credentials/definitions.js';
import { SyncScheduler } from '../credentials/scheduler.js';
import { GradebookClients } from '../gradebook/client.js';
import { policyFetch, routeDefaultAgentsThroughPolicy } from '../lti/outbound-http.js';
import { createLtiProvider } from '../lti/provider.js';
import { LTI_ROUTES } from '../lti/tool-configuration.js';
import { handle } from './async-handler.js';
import { apiRoutes } from './api-routes.js';
import { dashboardRoutes } from './dashboard-routes.js';
import { launchRoutes } from './launch-routes.js';
import { editorRoutes } from './editor-routes.js';
import { adminRoutes } from './admin-routes.js';
import { publicRoutes } from './public-routes.js';
import { issuanceRoutes } from './issuance-routes.js';
import { CredentialDownloads } from './credential-downloads.js';
import { IssuerService } from '../issuance/issuers.js';
import { IssuanceService } from '../issuance/issuance-service.js';
import { AutomaticIssuance } from '../issuance/automatic-issuance.js';
import { PathwayService } from '../credentials/pathways.js';
import { LearnerRecords } from '../credentials/learner-records.js';
import { recordRoutes } from './record-routes.js';
import { sealingKey } from '../issuance/keys.js';
import { extensionContext } from '../issuance/credential.js';
import { SigningPool } from '../issuance/signing-pool.js';
import os from 'node:os';
import { launchRejecter, renderError, renderPage } from './render.js';
import { isDatabaseUnavailable } from '../db/availability.js';
import { databaseUnavailable, ltijsOutageAnswers } from './database-outage.js';

export interface App {
  app: Express;
  lti: LtijsProvider;
  platforms: PlatformService;
  definitions: DefinitionService;
  awarding: AwardingService;
  scheduler: SyncScheduler;
  issuers: IssuerService;
  issuance: IssuanceService;
  automaticIssuance: AutomaticIssuance;
  pathways: PathwayService;
  records: LearnerRecords;
  /** Stops background jobs and ltijs' database work; the caller closes the HTTP server and the database. */
  close(): Promise<void>;
}

const MAX_FORM_BYTES = '64kb';
/** ltijs answers every path it sees (401 without an ltik), so it gets only the LTI and session paths. */
const SESSION_PATHS = ['/lti/', '/app/', '/api/v1/'];
/** Answers no cache may keep: the sessions' and the local admin page's. */
const PRIVATE_PATHS = [...SESSION_PATHS, '/admin'];
/** Session requests: a definition with long Japanese texts, or a bulk action for 500 learners. */
const MAX_BODY_BYTES = '256kb';

export async function createApp(config: Config, database: Database, logger: Logger): Promise<App> {
  const lti = await createLtiProvider(config, database);
  const platforms = new PlatformService(lti, database.db);
  const definitions = new DefinitionService(database.db);
  const platformFetch = policyFetch(config.outboundAllowPrivateNetworks);
  const awarding = new AwardingService(database.db, {
    interactive: new GradebookClients(lti, { maxAttempts: 2, timeoutMs: 5000, fetch: platformFetch }),
    background: new GradebookClients(lti, { fetch: platformFetch }),
  }, logger);
  const issuers = new IssuerService(database.db, config.publicUrl, sealingKey(config.ltiEncryptionKey));
  await issuers.ensureDefault(config.toolName);
  const extension = extensionContext(config.publicUrl);
  const signing = new SigningPool(Math.min(4, os.availableParallelism()), { [extension.url]: extension.document });
  const issuance = new IssuanceService(database.db, issuers, config.publicUrl, async (issuerId, unsigned) => signing.sign(unsigned, await (await issuers.currentKey(issuerId)).pair));
  const automaticIssuance = new AutomaticIssuance(database.db, issuance, logger);
  awarding.onRunCompleted((contextRef) => automaticIssuance.request(contextRef));
  const pathways = new PathwayService(database.db);
  const records = new LearnerRecords(database.db, issuers, issuance, pathways, config.publicUrl, logger);
  issuance.onIssued((account, identity) => records.reconsiderLater(account, identity));
  const scheduler = await SyncScheduler.start(database, awarding, logger, config.courseSyncCron);
  await automaticIssuance.resume();
  const app = express();
  // Pages render from ltijs' own express app too (after its session check), so both need the views.
  for (const a of [app, lti.app]) {
    a.disable('x-powered-by');
    a.set('view engine', 'ejs');
    a.set('views', path.resolve('views'));
    a.set('trust proxy', 'loopback, linklocal, uniquelocal');
  }

  app.use(serverTiming);
  app.use(pinoHttp({
    logger,
    genReqId: (req, res) => {
      const incoming = req.headers['x-request-id'];
      const id = typeof incoming === 'string' && /^[\w.-]{1,128}$/.test(incoming) ? incoming : randomUUID();
      res.setHeader('x-request-id', id);
      return id;
    },
    // The query string can hold an ltik: log the path only.
    serializers: {
      req: (req: { id: string; method: string; url: string }) => ({ id: req.id, method: req.method, path: req.url.split('?')[0] }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      err: (err: Error) => ({ type: err.name, message: err.message }),
    },
    customErrorMessage: (_req, res) => `request failed with ${res.statusCode}`,
    // 503: the database or the LMS is unreachable, a state the tool answers rather than a bug.
    customLogLevel: (_req, res, err) => (err || (res.statusCode >= 500 && res.statusCode !== 503) ? 'error' : res.statusCode >= 400 ? 'warn' : 'info'),
    autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/readyz' },
  }));

  const origins = new PlatformOrigins(database.db);
  platforms.onChange(() => origins.forget());
  app.use(securityHeaders(origins));
  // Session answers hold a learner's data and often the ltik: no browser or proxy may keep them.
  app.use((req, res, next) => {
    if (PRIVATE_PATHS.some((p) => req.path.startsWith(p))) res.set('cache-control', 'no-store');
    next();
  });
  app.use('/static', express.static(path.resolve('views/static'), { maxAge: '1h', index: false }));
  // The pages anyone may call: verification and shared credentials, and registration attempts.
  app.use(['/verify', '/api/v1/verify', '/credentials'], rateLimited(new RateLimiter(config.rateLimitPerMinute)));
  app.use(LTI_ROUTES.dynamicRegistration, rateLimited(new RateLimiter(config.registrationsPerMinute)));
  app.use(publicRoutes({ config, database, platforms, logger }));
  app.use(issuanceRoutes({ db: database.db, issuers, issuance, publicUrl: config.publicUrl }));

  const reject = launchRejecter(logger);
  const guardDeps = { lti, db: database.db, platforms, origins, publicUrl: config.publicUrl, encryptionKey: config.ltiEncryptionKey, allowPrivateNetworks: config.outboundAllowPrivateNetworks, reject, present: renderPage };
  const form = express.urlencoded({ extended: false, limit: MAX_FORM_BYTES });
  app.get(`${LTI_ROUTES.login}/cookie-check`, cookieCheck(guardDeps));
  app.all(LTI_ROUTES.login, form, handle(loginGuard(guardDeps)));
  app.post(LTI_ROUTES.launch, form, handle(launchGuard(guardDeps)));

  launchRoutes({ lti, db: database.db, platforms, awarding, issuance, definitions, logger, config });
  editorRoutes({ lti, db: database.db, definitions, awarding });
  adminRoutes({ app, lti, config, db: database.db, platforms, issuers, pathways, records, logger });
  apiRoutes({ lti, db: database.db, definitions, awarding, issuance, downloads: new CredentialDownloads(config.publicUrl) });
  dashboardRoutes({ lti, db: database.db, awarding, issuance });
  recordRoutes({ lti, records });
  // Parsed here, before ltijs' own parsers with their 100 KiB default, so our limits apply.
  app.use(['/app', '/api/v1'], express.json({ limit: MAX_BODY_BYTES }), express.urlencoded({ extended: false, limit: MAX_BODY_BYTES }), csrfGuard(config.publicUrl));
  const unavailable = databaseUnavailable(logger);
  app.use([LTI_ROUTES.login, LTI_ROUTES.keyset], ltijsOutageAnswers(unavailable));
  app.use((req, res, next) => (SESSION_PATHS.some((p) => req.path.startsWith(p)) ? lti.app(req, res, next) : next()));

  app.use((req: Request, res: Response) => renderError(req, res, 404, { reason: 'not_found' }));
  app.use((err: Error & { status?: number; type?: string }, req: Request, res: Response, _next: express.NextFunction) => {
    if (err.type === 'entity.too.large') return renderError(req, res, 413, { reason: 'too_large' });
    if (err.type === 'entity.parse.failed') return renderError(req, res, 400, { reason: 'bad_body' });
    if (err.type === 'charset.unsupported' || err.type === 'encoding.unsupported') return renderError(req, res, 415, { reason: 'unsupported_encoding' });
    if (isDatabaseUnavailable(err)) return unavailable(req, res, err);
    logger.error({ reqId: req.id, err: { message: err.message, stack: err.stack } }, 'unhandled error');
    return renderError(req, res, 500, { reason: 'internal' });
  });

  // Last, so that nothing after it can fail and leave the process's agents changed.
  const restoreDefaultAgents = config.outboundAllowPrivateNetworks ? undefined : routeDefaultAgentsThroughPolicy();
  return {
    app,
    lti,
    platforms,
    definitions,
    awarding,
    scheduler,
    issuers,
    issuance,
    automaticIssuance,
    pathways,
    records,
    close: async () => {
      restoreDefaultAgents?.();
      await scheduler.stop();
      await automaticIssuance.close();
      await records.idle();
      await signing.close();
      await lti.Database.Close();
    },
  };
}
