import type { Server } from 'node:http';
import { pathToFileURL } from 'node:url';
import { ConfigError, loadConfig, type Config } from './config.js';
import { openDatabase, type Database } from './db/database.js';
import { DataDirInUseError } from './db/embedded-postgres.js';
import { createLogger } from './logger.js';
import { createApp, type App } from './web/app.js';

const SHUTDOWN_GRACE_MS = 10_000;

export interface RunningTool {
  server: Server;
  url: string;
  config: Config;
  app: App;
  database: Database;
  stop(): Promise<void>;
}

/** Starts the tool: database (with migrations), ltijs, HTTP. Used by `npm start`, the demo and tests. */
export async function startTool(config: Config, logStream?: NodeJS.WritableStream): Promise<RunningTool> {
  const logger = createLogger(config.logLevel, logStream);
  const database = await openDatabase(config, logger);
  const tool = await createApp(config, database, logger).catch(async (err: unknown) => {
    await database.close();
    throw err;
  });
  const server = await new Promise<Server>((resolve, reject) => {
    const s = tool.app.listen(config.port, () => resolve(s));
    s.once('error', reject);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  logger.info({ port, publicUrl: config.publicUrl, database: database.mode }, 'tool listening');

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      // Stop accepting, let in-flight requests finish, then release the database.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const forced = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS).unref();
      await closed;
      clearTimeout(forced);
      await tool.close();
      await database.close();
      logger.info('tool stopped');
    })();
    return stopping;
  };
  return { server, url: `http://127.0.0.1:${port}`, config, app: tool, database, stop };
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(err.message + '\n');
      process.exit(1);
    }
    throw err;
  }
  let tool: RunningTool;
  try {
    tool = await startTool(config);
  } catch (err) {
    const message = err instanceof DataDirInUseError ? err.message : `Start-up failed: ${(err as Error).message}`;
    process.stderr.write(message + '\n');
    process.exit(1);
  }
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      tool.stop().then(() => process.exit(0), () => process.exit(1));
    });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
