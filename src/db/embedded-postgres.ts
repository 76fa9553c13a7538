import { PGlite } from '@electric-sql/pglite';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/**
 * Serves an embedded PGlite database over the PostgreSQL wire protocol on a private unix socket,
 * so that ltijs (through Sequelize) and our own `pg` pool talk to it exactly as to a server.
 *
 * PGlite is a single backend. Connections are therefore multiplexed one *protocol cycle* at a time
 * (a simple Query, or an extended-protocol batch up to Sync), and a connection that opens a
 * transaction keeps the backend to itself until the transaction ends. Without that, a statement
 * from another connection would run inside (and be rolled back with) someone else's transaction.
 */

const SOCKET_PORT = 5432;
const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const PROTOCOL_3 = 196608;
/** A connection idle inside a transaction this long is cut off and rolled back, as Postgres' idle_in_transaction_session_timeout. */
const IDLE_IN_TRANSACTION_MS = 60_000;
const ROLLBACK = Buffer.from([0x51, 0, 0, 0, 13, ...Buffer.from('ROLLBACK\0')]);

export interface SocketConnection {
  host: string;
  port: number;
  user: string;
  database: string;
}

interface LockFile {
  pid: number;
  socketDir: string;
}

/** Serialises backend access between connections; the owner keeps it across a whole transaction. */
class BackendLock {
  private owner: Connection | null = null;
  private waiters: Array<{ conn: Connection; grant: () => void }> = [];

  async acquire(conn: Connection): Promise<void> {
    if (this.owner === conn) return;
    if (this.owner === null) {
      this.owner = conn;
      return;
    }
    await new Promise<void>((grant) => this.waiters.push({ conn, grant }));
  }

  release(conn: Connection): void {
    if (this.owner !== conn) return;
    const next = this.waiters.shift();
    this.owner = next ? next.conn : null;
    next?.grant();
  }

  forget(conn: Connection): void {
    this.waiters = this.waiters.filter((w) => w.conn !== conn);
  }
}

class Connection {
  private buffer = Buffer.alloc(0);
  private started = false;
  private pending: Buffer[] = [];
  private queue: Promise<void> = Promise.resolve();
  private transactionStatus: 'I' | 'T' | 'E' = 'I';
  private idleTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly db: PGlite,
    private readonly lock: BackendLock,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk) => this.onData(chunk));
    socket.on('close', () => void this.onClose());
    socket.on('error', () => socket.destroy());
  }

  private onData(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    for (;;) {
      if (!this.started) {
        if (this.buffer.length < 8) return;
        const len = this.buffer.readInt32BE(0);
        if (this.buffer.length < len) return;
        const code = this.buffer.readInt32BE(4);
        const message = this.buffer.subarray(0, len);
        this.buffer = this.buffer.subarray(len);
        if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
          this.socket.write('N');
        } else if (code === CANCEL_REQUEST) {
          this.socket.end();
          return;
        } else if (code === PROTOCOL_3) {
          this.started = true;
          this.enqueue([Buffer.from(message)]);
        } else {
          this.socket.destroy();
          return;
        }
        continue;
      }
      if (this.buffer.length < 5) return;
      const len = this.buffer.readInt32BE(1) + 1;
      if (this.buffer.length < len) return;
      const type = String.fromCharCode(this.buffer[0]!);
      const message = Buffer.from(this.buffer.subarray(0, len));
      this.buffer = this.buffer.subarray(len);
      if (type === 'X') {
        this.socket.end();
        return;
      }
      this.pending.push(message);
      // A simple Query, Sync or Flush completes a unit the backend answers; Parse/Bind/... wait for it.
      if (type === 'Q' || type === 'S' || type === 'H') {
        this.enqueue(this.pending);
        this.pending = [];
      }
    }
  }

  private enqueue(unit: Buffer[]): void {
    this.queue = this.queue.then(() => this.run(Buffer.concat(unit))).catch(() => {
      this.socket.destroy();
    });
  }

  private async run(unit: Buffer): Promise<void> {
    if (this.closed) return;
    clearTimeout(this.idleTimer);
    await this.lock.acquire(this);
    if (this.closed) {
      this.lock.release(this);
      return;
    }
    const reply = Buffer.from(await this.db.execProtocolRaw(new Uint8Array(unit)));
    const status = lastReadyStatus(reply);
    if (status) this.transactionStatus = status;
    if (!this.socket.destroyed) this.socket.write(reply);
    if (status === 'I') {
      this.lock.release(this);
    } else {
      this.idleTimer = setTimeout(() => this.socket.destroy(), IDLE_IN_TRANSACTION_MS);
    }
  }

  private async onClose(): Promise<void> {
    this.closed = true;
    clearTimeout(this.idleTimer);
    this.lock.forget(this);
    await this.queue;
    if (this.transactionStatus !== 'I') {
      await this.lock.acquire(this);
      await this.db.execProtocolRaw(new Uint8Array(ROLLBACK)).catch(() => undefined);
      this.transactionStatus = 'I';
    }
    this.lock.release(this);
  }
}

/** The transaction status of the last ReadyForQuery ('Z') message in a backend reply, if any. */
function lastReadyStatus(reply: Buffer): 'I' | 'T' | 'E' | undefined {
  let status: 'I' | 'T' | 'E' | undefined;
  let offset = 0;
  while (offset + 5 <= reply.length) {
    const len = reply.readInt32BE(offset + 1);
    if (reply[offset] === 0x5a && len === 5) status = String.fromCharCode(reply[offset + 5]!) as 'I' | 'T' | 'E';
    offset += 1 + len;
  }
  return status;
}

/** Whether a server answers on this unix socket; a socket file left by a killed process does not. */
function socketAnswers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    if (!existsSync(socketPath)) return resolve(false);
    const probe = net.connect(socketPath);
    probe.setTimeout(1000);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
    probe.once('timeout', () => {
      probe.destroy();
      resolve(false);
    });
  });
}

/**
 * The socket lives in DATA_DIR when the path is short enough (unix socket paths are limited to
 * about 100 bytes), so every process that shares the data directory, in any container, finds it.
 */
function chooseSocketDir(dataDir: string): string {
  const inDataDir = path.join(dataDir, 'run');
  if (Buffer.byteLength(path.join(inDataDir, `.s.PGSQL.${SOCKET_PORT}`)) <= 100) {
    mkdirSync(inDataDir, { recursive: true, mode: 0o700 });
    return inDataDir;
  }
  return mkdtempSync(path.join(os.tmpdir(), 'microcred-pg-'));
}

export class DataDirInUseError extends Error {}

/**
 * Creates a new PGlite data directory in a short-lived child process. initdb grows the WebAssembly
 * heap by about 500 MiB that a process never gets back; the tool then opens the finished directory
 * at about a third of that. Built beside the target and renamed, so a crash leaves no half-made one.
 */
async function initializeDataDir(pgdata: string): Promise<void> {
  const building = `${pgdata}.init-${process.pid}`;
  rmSync(building, { recursive: true, force: true });
  const pglite = createRequire(import.meta.url).resolve('@electric-sql/pglite');
  const script = 'const { PGlite } = require(process.argv[1]); PGlite.create(process.argv[2]).then((db) => db.close())'
    + '.catch((e) => { console.error(e?.message ?? e); process.exit(1); });';
  await new Promise<void>((resolve, reject) => {
    execFile(process.execPath, ['-e', script, pglite, building], { timeout: 120_000 }, (error, _stdout, stderr) => {
      if (error) reject(new Error(`could not create the embedded database in ${pgdata}: ${stderr.trim() || error.message}`));
      else resolve();
    });
  });
  rmSync(pgdata, { recursive: true, force: true }); // empty: start() refuses any other kind
  renameSync(building, pgdata);
}

export class EmbeddedPostgres {
  private constructor(
    private readonly db: PGlite,
    private readonly server: net.Server,
    private readonly socketDir: string,
    private readonly lockFile: string,
    private readonly sockets: Set<net.Socket>,
  ) {}

  /** Where a live server (in this or another process) for this data directory listens, if any. */
  static async runningServer(dataDir: string): Promise<(SocketConnection & { pid: number }) | undefined> {
    const lockFile = path.join(dataDir, 'pgdata.lock');
    if (!existsSync(lockFile)) return undefined;
    const lock = JSON.parse(readFileSync(lockFile, 'utf8')) as LockFile;
    if (!(await socketAnswers(path.join(lock.socketDir, `.s.PGSQL.${SOCKET_PORT}`)))) return undefined;
    return { ...connectionFor(lock.socketDir), pid: lock.pid };
  }

  static async start(dataDir: string): Promise<EmbeddedPostgres> {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const lockFile = path.join(dataDir, 'pgdata.lock');
    const running = await EmbeddedPostgres.runningServer(dataDir);
    if (running) {
      throw new DataDirInUseError(`The embedded database in ${dataDir} is already open in process ${running.pid}; stop that process or use another DATA_DIR.`);
    }
    const pgdata = path.join(dataDir, 'pgdata');
    if (!existsSync(path.join(pgdata, 'PG_VERSION'))) {
      if (existsSync(pgdata) && readdirSync(pgdata).length > 0) {
        throw new Error(`${pgdata} is not an embedded database (it has no PG_VERSION); move it away or use another DATA_DIR.`);
      }
      await initializeDataDir(pgdata);
    }
    const db = await PGlite.create(pgdata);
    const socketDir = chooseSocketDir(dataDir);
    // A socket file left by a killed process would make listen() fail.
    rmSync(path.join(socketDir, `.s.PGSQL.${SOCKET_PORT}`), { force: true });
    const lock = new BackendLock();
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      new Connection(socket, db, lock);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path.join(socketDir, `.s.PGSQL.${SOCKET_PORT}`), resolve);
    });
    writeFileSync(lockFile, JSON.stringify({ pid: process.pid, socketDir } satisfies LockFile), { mode: 0o600 });
    return new EmbeddedPostgres(db, server, socketDir, lockFile, sockets);
  }

  get connection(): SocketConnection {
    return connectionFor(this.socketDir);
  }

  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
    await this.db.close();
    rmSync(path.join(this.socketDir, `.s.PGSQL.${SOCKET_PORT}`), { force: true });
    if (this.socketDir.startsWith(os.tmpdir())) rmSync(this.socketDir, { recursive: true, force: true });
    rmSync(this.lockFile, { force: true });
  }
}

function connectionFor(socketDir: string): SocketConnection {
  return { host: socketDir, port: SOCKET_PORT, user: 'postgres', database: 'postgres' };
}
