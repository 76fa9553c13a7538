import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { EmbeddedProcessMessage } from './embedded-postgres-process.js';
import { DataDirInUseError, type SocketConnection } from './embedded-postgres.js';

const STARTUP_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 10_000;
const RESTART_DELAYS_MS = [500, 1_000, 2_000, 5_000, 10_000, 30_000];

const here = fileURLToPath(import.meta.url);
const entry = path.join(path.dirname(here), `embedded-postgres-process${path.extname(here)}`);

/** Run from TypeScript sources (tests, tsx) the child needs tsx's loader, unless it already inherits it. */
function childExecArgv(): string[] {
  const inherited = process.execArgv.filter((a) => !a.startsWith('--cpu-prof') && !a.startsWith('--inspect'));
  return entry.endsWith('.ts') && !inherited.some((a) => a.includes('tsx')) ? [...inherited, '--import', 'tsx'] : inherited;
}

/**
 * The embedded PGlite database in a process of its own (embedded-postgres-process.ts), reached
 * over its unix socket like a server. If that process dies it is started again, with growing
 * delays; connections fail meanwhile (readiness says so) and recover without a tool restart.
 */
export class EmbeddedDatabase {
  private child: ChildProcess;
  private stopping = false;
  private restarts = 0;

  private constructor(
    private readonly dataDir: string,
    private readonly logger: Logger,
    child: ChildProcess,
    readonly connection: SocketConnection,
  ) {
    this.child = child;
    this.watch(child);
  }

  static async start(dataDir: string, logger: Logger): Promise<EmbeddedDatabase> {
    const { child, connection } = await launch(dataDir);
    return new EmbeddedDatabase(dataDir, logger, child, connection);
  }

  /** The database process's id, for operators and benchmarks. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  private watch(child: ChildProcess): void {
    child.on('error', (err) => this.logger.warn({ err: err.message }, 'the embedded database process could not be reached'));
    child.once('exit', (code, signal) => {
      if (this.stopping) return;
      this.logger.error({ code, signal, restartInMs: this.scheduleRestart() }, 'the embedded database process ended; starting it again');
    });
  }

  /** Each failed start in a row waits longer, up to the last delay. */
  private scheduleRestart(): number {
    const delay = RESTART_DELAYS_MS[Math.min(this.restarts++, RESTART_DELAYS_MS.length - 1)]!;
    setTimeout(() => void this.restart(), delay).unref();
    return delay;
  }

  private async restart(): Promise<void> {
    if (this.stopping) return;
    try {
      const { child } = await launch(this.dataDir);
      if (this.stopping) {
        child.kill('SIGTERM');
        return;
      }
      this.child = child;
      this.restarts = 0;
      this.watch(child);
      this.logger.info('the embedded database process is back');
    } catch (err) {
      this.logger.error({ err: (err as Error).message, restartInMs: this.scheduleRestart() }, 'the embedded database process could not be started again');
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    if (child.connected) child.send({ type: 'stop' });
    else child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }
}

function launch(dataDir: string): Promise<{ child: ChildProcess; connection: SocketConnection }> {
  return new Promise((resolve, reject) => {
    const child = fork(entry, [dataDir], { execArgv: childExecArgv(), stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json' });
    const fail = (error: Error) => {
      clearTimeout(timer);
      child.removeAllListeners('message');
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      reject(error);
    };
    const timer = setTimeout(() => fail(new Error(`the embedded database did not start within ${STARTUP_TIMEOUT_MS / 1000} s`)), STARTUP_TIMEOUT_MS);
    child.once('error', fail);
    child.once('exit', (code, signal) => fail(new Error(`the embedded database process ended during start-up (${signal ?? code})`)));
    child.on('message', (m: EmbeddedProcessMessage) => {
      if (m.type === 'ready') {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        child.removeAllListeners('error');
        child.removeAllListeners('message');
        resolve({ child, connection: m.connection });
      } else if (m.type === 'failed') {
        fail(m.inUse ? new DataDirInUseError(m.message) : new Error(m.message));
      }
    });
  });
}
