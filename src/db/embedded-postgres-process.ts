/**
 * The embedded database's own process: PGlite behind the wire-protocol server. Apart from the
 * tool, its WebAssembly heap is not the tool's memory and its synchronous query execution never
 * stalls the tool's event loop. Started by EmbeddedDatabase (embedded-database.ts) with the data
 * directory; it stops when its parent goes, however the parent ends.
 */
import { DataDirInUseError, EmbeddedPostgres } from './embedded-postgres.js';

export type EmbeddedProcessMessage =
  | { type: 'ready'; connection: EmbeddedPostgres['connection'] }
  | { type: 'failed'; message: string; inUse: boolean };

const send = (message: EmbeddedProcessMessage) => new Promise<void>((resolve) => process.send!(message, () => resolve()));

const dataDir = process.argv[2];
if (!dataDir || !process.send) {
  console.error('usage: forked by the tool with the data directory as its argument');
  process.exit(2);
}

// Ctrl-C reaches the whole process group; the parent decides when this process stops.
process.on('SIGINT', () => undefined);

try {
  const server = await EmbeddedPostgres.start(dataDir);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await server.stop().catch(() => undefined);
    process.exit(0);
  };
  process.on('disconnect', () => void stop());
  process.on('SIGTERM', () => void stop());
  process.on('message', (m: unknown) => {
    if ((m as { type?: string }).type === 'stop') void stop();
  });
  await send({ type: 'ready', connection: server.connection });
} catch (err) {
  await send({ type: 'failed', message: (err as Error).message, inUse: err instanceof DataDirInUseError });
  process.exit(1);
}
