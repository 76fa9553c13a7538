import type { Express, NextFunction, Request, Response } from 'express';
import ltijs, { type LtijsProvider } from 'ltijs';
import LtijsSequelize from 'ltijs-sequelize';
import type { Config } from '../config.js';
import { DatabaseUnavailableError, isDatabaseUnavailable } from '../db/availability.js';
import type { SequelizeTarget } from '../db/database.js';
import { ID_TOKEN_MAX_AGE_S } from './launch-security.js';
import { LTI_ROUTES } from './tool-configuration.js';

/**
 * A fresh ltijs Provider on our PostgreSQL. ltijs exports a ready-made singleton; we build new
 * instances from its class so that one process can hold several (tests restart the app), and we
 * set up its database ourselves rather than through deploy(), which exits the process on error.
 */
export async function createLtiProvider(config: Pick<Config, 'ltiEncryptionKey' | 'publicUrl'>, target: SequelizeTarget): Promise<LtijsProvider> {
  const ProviderClass = (ltijs.Provider as object).constructor as new () => LtijsProvider;
  const lti = new ProviderClass();
  // Browsers treat loopback as a secure context and accept Secure cookies there over plain http.
  const { protocol, hostname } = new URL(config.publicUrl);
  const secure = protocol === 'https:' || ['localhost', '127.0.0.1', '[::1]'].includes(hostname);
  lti.setup(config.ltiEncryptionKey, { plugin: new OutageAwareSequelize(target.database, target.user, target.password, target.options) }, {
    appRoute: LTI_ROUTES.launch,
    loginRoute: LTI_ROUTES.login,
    keysetRoute: LTI_ROUTES.keyset,
    dynRegRoute: LTI_ROUTES.dynamicRegistration,
    // The state cookie is set in a cross-site iframe: SameSite=None, which browsers accept only with Secure.
    // Where the browser refuses it anyway, the launch guard checks the state through platform storage.
    cookies: secure ? { secure: true, sameSite: 'None' } : { secure: false, sameSite: 'Lax' },
    cors: false,
    devMode: false,
    // The session is the ltik alone, never a cookie: it works where third-party cookies are blocked,
    // and a cross-site form cannot ride on it (see src/web/request-security.ts).
    ltiaas: true,
    tokenMaxAge: ID_TOKEN_MAX_AGE_S,
  });
  passRejections(lti.app);
  // ltijs-sequelize reports its own schema migrations on the console; keep stdout structured.
  const { log, info } = console;
  console.log = console.info = () => undefined;
  try {
    await lti.Database.setup();
  } finally {
    Object.assign(console, { log, info });
  }
  return lti;
}

/** A connection failure becomes DatabaseUnavailableError; any other error is left as it is. */
function guarded<T>(work: Promise<T>): Promise<T> {
  const result = work.catch((err: unknown) => {
    throw isDatabaseUnavailable(err) && !(err instanceof DatabaseUnavailableError) ? new DatabaseUnavailableError(err) : err;
  });
  // ltijs does not await some of its deletes; their failure must not end the process as an unhandled rejection.
  result.catch(() => undefined);
  return result;
}

/**
 * ltijs-sequelize, throwing DatabaseUnavailableError when the database cannot be reached. ltijs
 * keeps only an error's message (for onInvalidToken, and in its own 500 answers), so that message
 * is what tells an outage from a bad token.
 */
class OutageAwareSequelize extends LtijsSequelize {
  override Get(...args: unknown[]) {
    return guarded(super.Get(...args));
  }

  override Insert(...args: unknown[]) {
    return guarded(super.Insert(...args));
  }

  override Replace(...args: unknown[]) {
    return guarded(super.Replace(...args));
  }

  override Modify(...args: unknown[]) {
    return guarded(super.Modify(...args));
  }

  override Delete(...args: unknown[]) {
    return guarded(super.Delete(...args));
  }
}

type Middleware = (req: Request, res: Response, next: NextFunction) => unknown;

/**
 * ltijs' own middleware (its session check among it) is async, and Express 4 drops a rejected
 * promise: the request would never be answered, and Node ends on an unhandled rejection. The
 * session check's catch block reads the database again, so an outage rejects right there. Such
 * rejections go to the error handler instead, unless the middleware had already passed the request on.
 */
function passRejections(app: Express): void {
  const { stack } = (app as unknown as { _router: { stack: Array<{ handle: Middleware }> } })._router;
  for (const layer of stack) {
    const middleware = layer.handle;
    if (middleware.constructor.name !== 'AsyncFunction') continue;
    layer.handle = (req, res, next) => {
      let passedOn = false;
      const onward: NextFunction = (err?: unknown) => {
        passedOn = true;
        next(err);
      };
      (middleware(req, res, onward) as Promise<unknown>).catch((err: unknown) => {
        if (!passedOn) next(err);
      });
    };
  }
}
