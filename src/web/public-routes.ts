import { Router, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { DATABASE_RETRY_AFTER_S } from '../db/availability.js';
import type { Database } from '../db/database.js';
import { extensionContext } from '../issuance/credential.js';
import { performDynamicRegistration, RegistrationError, registrationQuery } from '../lti/dynamic-registration.js';
import type { PlatformService } from '../lti/platforms.js';
import { canvasDeveloperKeyConfiguration, LTI_ROUTES, toolUrls } from '../lti/tool-configuration.js';
import { handle } from './async-handler.js';
import { renderError, renderPage } from './render.js';

interface Deps {
  config: Config;
  database: Database;
  platforms: PlatformService;
  logger: Logger;
}

const READY_TIMEOUT_MS = 2000;

const REGISTRATION_STATUS: Record<RegistrationError['failure'], number> = {
  config_unreachable: 502,
  config_malformed: 502,
  config_host_mismatch: 400,
  address_refused: 400,
  registration_rejected: 502,
  registration_unreachable: 502,
  registration_malformed: 502,
  already_registered: 409,
};

/** Routes that need no LTI session: health, registration documents, Dynamic Registration, the credentials' extension context. */
export function publicRoutes({ config, database, platforms, logger }: Deps): Router {
  const router = Router();

  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  router.get('/readyz', handle(async (_req: Request, res: Response) => {
    try {
      await Promise.race([
        database.ping(),
        new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), READY_TIMEOUT_MS).unref()),
      ]);
      res.json({ status: 'ready', database: database.mode });
    } catch {
      res.status(503).set('Retry-After', String(DATABASE_RETRY_AFTER_S)).json({ status: 'unavailable', database: database.mode });
    }
  }));

  // The extension context every credential names: verifiers elsewhere fetch it from here.
  const extension = extensionContext(config.publicUrl);
  router.get(new URL(extension.url).pathname, (_req, res) => {
    res.type('application/ld+json').set('Cache-Control', 'public, max-age=86400').send(JSON.stringify(extension.document));
  });

  router.get(LTI_ROUTES.canvasConfiguration, (_req, res) => {
    res.json(canvasDeveloperKeyConfiguration(config));
  });

  router.get(LTI_ROUTES.dynamicRegistration, handle(async (req: Request, res: Response) => {
    if (req.query.openid_configuration === undefined) {
      // Opened directly: explain how an admin uses this URL.
      return renderPage(req, res, 200, 'register-info', { registrationUrl: config.publicUrl + LTI_ROUTES.dynamicRegistration, urls: toolUrls(config), canvasUrl: config.publicUrl + LTI_ROUTES.canvasConfiguration });
    }
    const query = registrationQuery.safeParse(req.query);
    if (!query.success) return renderError(req, res, 400, { reason: 'registration.config_malformed', params: { detail: 'openid_configuration must be a single URL of at most 2048 characters' } });
    try {
      const outcome = await performDynamicRegistration(config, platforms, query.data);
      logger.info({ reqId: req.id, iss: outcome.platform.issuer, clientId: outcome.platform.clientId, active: outcome.platform.active }, 'platform registered dynamically');
      return renderPage(req, res, 200, 'register-done', { outcome });
    } catch (err) {
      if (!(err instanceof RegistrationError)) throw err;
      logger.warn({ reqId: req.id, failure: err.failure, detail: err.detail }, 'dynamic registration failed');
      return renderError(req, res, REGISTRATION_STATUS[err.failure], { reason: `registration.${err.failure}`, params: { detail: err.detail } });
    }
  }));

  return router;
}
