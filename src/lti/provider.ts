import type { Express, NextFunction, Request, Response } from 'express';
import ltijs, { type LtijsProvider } from 'ltijs';
import LtijsSequelize from 'ltijs-sequelize';
import LtijsAuth from 'ltijs/dist/Utils/Auth.js';
import { generateKeyPair, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { Sequelize } from 'sequelize';
import type { Config } from '../config.js';
import { DatabaseUnavailableError, isDatabaseUnavailable } from '../db/availability.js';
import type { Database, SequelizeTarget } from '../db/database.js';
import { ID_TOKEN_MAX_AGE_S } from './launch-security.js';
import { LTI_ROUTES } from './tool-configuration.js';

/**
 * A fresh ltijs Provider on our PostgreSQL. ltijs exports a ready-made singleton; we build new
 * instances from its class so that one process can hold several (tests restart the app), and we
 * set up its database ourselves rather than through deploy(), which exits the process on error.
 */
/**
 * ltijs makes each platform's 4096-bit RSA key pair with generateKeyPairSync, which held every
 * request of the process for seconds while a platform registered. The same keys, made on libuv's
 * thread pool and stored as ltijs stores them.
 */
LtijsAuth.generatePlatformKeyPair = async (encryptionKey, database, platformUrl, clientId) => {
  let kid = randomBytes(16).toString('hex');
  while (await database.Get(false, 'publickey', { kid })) kid = randomBytes(16).toString('hex');
  const { publicKey, privateKey } = await promisify(generateKeyPair)('rsa', {
    modulusLength: 4096, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  const owner = { platformUrl, clientId };
  await database.Replace(encryptionKey, 'publickey', owner, { key: publicKey, kid }, { kid, ...owner });
  await database.Replace(encryptionKey, 'privatekey', owner, { key: privateKey, kid }, { kid, ...owner });
  return kid;
};

export async function createLtiProvider(config: Pick<Config, 'ltiEncryptionKey' | 'publicUrl'>, database: Pick<Database, 'sequelize'>): Promise<LtijsProvider> {
  const ProviderClass = (ltijs.Provider as object).constructor as new () => LtijsProvider;
  const lti = new ProviderClass();
  // Browsers treat loopback as a secure context and accept Secure cookies there over plain http.
  const { protocol, hostname } = new URL(config.publicUrl);
  const secure = protocol === 'https:' || ['localhost', '127.0.0.1', '[::1]'].includes(hostname);
  lti.setup(config.ltiEncryptionKey, { plugin: new LtijsDatabase(database.sequelize) }, {
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
    await setUpTables(lti);
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
 * ltijs-sequelize, with two repairs:
 * - it throws DatabaseUnavailableError when the database cannot be reached. ltijs keeps only an
 *   error's message (for onInvalidToken, and in its own 500 answers), so that message is what
 *   tells an outage from a bad token;
 * - its Replace is atomic. The plugin replaces a row by a delete then a create: a request between
 *   the two (the same user launching in two tabs) found no session and got 401. In one
 *   transaction, readers see the old row or the new one. The plugin's Sequelize instance is
 *   private, so it is caught as it is made.
 */
class LtijsDatabase extends LtijsSequelize {
  private readonly sequelize: Sequelize;

  constructor(target: SequelizeTarget) {
    let made: Sequelize | undefined;
    Sequelize.addHook('afterInit', 'ltijs-instance', (instance) => {
      made = instance;
    });
    try {
      super(target.database, target.user, target.password, target.options);
    } finally {
      Sequelize.removeHook('afterInit', 'ltijs-instance');
    }
    this.sequelize = made!;
  }

  override Get(...args: unknown[]) {
    return guarded(super.Get(...args));
  }

  override Insert(...args: unknown[]) {
    return guarded(super.Insert(...args));
  }

  override Replace(...args: unknown[]) {
    const [key, table, info, item, index] = args as [string | false, string, Record<string, unknown>, Record<string, unknown>, Record<string, unknown> | undefined];
    return guarded((async () => {
      const row = key ? { ...index, ...(await this.Encrypt(JSON.stringify(item), key)) } : item;
      const model = this.sequelize.models[table]!;
      await this.sequelize.transaction(async (transaction) => {
        await model.destroy({ where: info, transaction });
        await model.create(row, { transaction });
      });
      return true;
    })());
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

/** duplicate_table, duplicate_column, duplicate_object, unique_violation (on the catalog): another instance's CREATE won the race. */
const CONCURRENT_DDL = new Set(['42P07', '42701', '42710', '23505']);
const SETUP_ATTEMPTS = 5;

/**
 * ltijs-sequelize creates its tables and indexes with check-then-create, so instances starting
 * together on an empty database collided and all but one exited. A collision means the object now
 * exists: set up again, and the next check finds it.
 */
async function setUpTables(lti: LtijsProvider): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await lti.Database.setup();
      return;
    } catch (err) {
      if (attempt === SETUP_ATTEMPTS || !CONCURRENT_DDL.has(sqlState(err) ?? '')) throw err;
      await new Promise((r) => setTimeout(r, 50 + Math.random() * 200));
    }
  }
}

/** The SQLSTATE under a Sequelize error (`parent`) or an umzug migration error (`cause`). */
function sqlState(err: unknown): string | undefined {
  let e = err as { code?: unknown; parent?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; e && depth < 5; depth++) {
    if (typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) return e.code;
    e = (e.parent ?? e.cause) as typeof e;
  }
  return undefined;
}
