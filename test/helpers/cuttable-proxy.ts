import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { EmbeddedDatabase } from '../../src/db/embedded-database.js';
import { createLogger } from '../../src/logger.js';
import type { TestDatabase } from './databases.js';

/** Where the proxy listens: a loopback TCP port, or a unix socket path. */
export type ListenAddress = { port: number } | { path: string };

/**
 * A byte-for-byte proxy (node:net) in front of a database, which a test can break as outages look
 * to the tool. cut(): every open connection is destroyed and new ones are refused (the listener is
 * closed, so TCP connects get ECONNREFUSED and a unix socket is gone). hang(): open connections
 * are destroyed and new ones are accepted but never answered, as a stuck server or a lost network.
 * restore() forwards again on the same address.
 */
export class CuttableProxy {
  private readonly sockets = new Set<net.Socket>();
  private server: net.Server | undefined;
  private hanging = false;
  /** Connections accepted since the proxy started; a test sees from it that the tool reconnected. */
  accepted = 0;

  private constructor(
    private listenOn: ListenAddress,
    private readonly target: net.NetConnectOpts,
  ) {}

  static async start(listenOn: ListenAddress, target: net.NetConnectOpts): Promise<CuttableProxy> {
    const proxy = new CuttableProxy(listenOn, target);
    await proxy.listen();
    return proxy;
  }

  /** The TCP port it listens on (for a TCP proxy started on port 0, the one it was given). */
  get port(): number {
    if (!('port' in this.listenOn)) throw new Error('a unix socket proxy has no port');
    return this.listenOn.port;
  }

  private async listen(): Promise<void> {
    if ('path' in this.listenOn) rmSync(this.listenOn.path, { force: true });
    const server = net.createServer((client) => this.pipe(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      if ('path' in this.listenOn) server.listen(this.listenOn.path, resolve);
      else server.listen(this.listenOn.port, '127.0.0.1', resolve);
    });
    if ('port' in this.listenOn) this.listenOn = { port: (server.address() as net.AddressInfo).port };
    this.server = server;
  }

  private pipe(client: net.Socket): void {
    this.accepted++;
    if (this.hanging) {
      this.sockets.add(client);
      client.on('close', () => this.sockets.delete(client));
      client.on('error', () => undefined);
      return;
    }
    const upstream = net.connect(this.target);
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  }

  private dropConnections(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  async cut(): Promise<void> {
    this.hanging = false;
    const server = this.server;
    this.dropConnections();
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async hang(): Promise<void> {
    this.hanging = true;
    this.dropConnections();
    if (!this.server) await this.listen();
  }

  async restore(): Promise<void> {
    if (this.hanging) {
      this.hanging = false;
      this.dropConnections();
    }
    if (!this.server) await this.listen();
  }

  async stop(): Promise<void> {
    await this.cut();
  }
}

/** A test database reached only through a cuttable proxy: `env` starts a tool that connects through it. */
export interface ProxiedDatabase {
  env: Record<string, string>;
  proxy: CuttableProxy;
  dispose(): Promise<void>;
}

/**
 * Puts a proxy between a tool and the test database. A server: DATABASE_URL's port becomes the
 * proxy's. PGlite: its process runs on the test database's directory, and the tool gets a data
 * directory of its own whose pgdata.lock names the proxy's socket directory, so the tool connects
 * to "the running embedded server" (EmbeddedPostgres.runningServer) through the proxy.
 */
export async function proxiedDatabase(target: TestDatabase): Promise<ProxiedDatabase> {
  if (target.name === 'postgres') {
    const url = new URL(target.env.DATABASE_URL!);
    const proxy = await CuttableProxy.start({ port: 0 }, { host: url.hostname, port: Number(url.port || 5432) });
    url.port = String(proxy.port);
    return { env: { ...target.env, DATABASE_URL: url.toString() }, proxy, dispose: () => proxy.stop() };
  }
  const embedded = await EmbeddedDatabase.start(target.dataDir, createLogger('silent'));
  const toolDir = mkdtempSync(path.join(os.tmpdir(), 'microcred-proxied-'));
  const socketDir = path.join(toolDir, 'run');
  mkdirSync(socketDir);
  const { host, port } = embedded.connection;
  const proxy = await CuttableProxy.start({ path: path.join(socketDir, `.s.PGSQL.${port}`) }, { path: path.join(host, `.s.PGSQL.${port}`) });
  writeFileSync(path.join(toolDir, 'pgdata.lock'), JSON.stringify({ pid: embedded.pid, socketDir }));
  return {
    env: { ...target.env, DATA_DIR: toolDir },
    proxy,
    dispose: async () => {
      await proxy.stop();
      await embedded.stop();
      rmSync(toolDir, { recursive: true, force: true });
    },
  };
}
