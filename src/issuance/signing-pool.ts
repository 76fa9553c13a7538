import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Ed25519KeyPair } from '@digitalbazaar/ed25519-multikey';
import type { WorkerRequest, WorkerResponse } from './signing-worker.js';

const here = fileURLToPath(import.meta.url);
const entry = path.join(path.dirname(here), `signing-worker${path.extname(here)}`);

/**
 * Compiled, the worker is its .js file. From TypeScript sources (tests, tsx) a worker cannot take
 * tsx through execArgv on Node 20, so a one-line module registers tsx's ESM hooks and imports it.
 */
function workerEntry(): URL | string {
  if (!entry.endsWith('.ts')) return entry;
  const tsxApi = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
  const code = `import { register } from ${JSON.stringify(tsxApi)}; register(); await import(${JSON.stringify(pathToFileURL(entry).href)});`;
  return new URL(`data:text/javascript,${encodeURIComponent(code)}`);
}

/**
 * Signs on worker threads: canonicalization is CPU-bound, so this keeps it off the event loop and
 * uses every core. Each credential goes to the least busy worker.
 */
export class SigningPool {
  private readonly workers: Array<{ worker: Worker; busy: number; keys: Set<string> }>;
  private readonly pending = new Map<number, { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  private next = 0;

  /** ownDocuments: the contexts of this tool that signing needs besides the bundled ones (the extension context). */
  constructor(size: number, ownDocuments: Record<string, unknown>) {
    const source = workerEntry();
    this.workers = Array.from({ length: size }, () => {
      const worker = new Worker(source, { workerData: { ownDocuments } });
      worker.on('message', (m: WorkerResponse) => this.settle(m));
      worker.on('error', (err) => this.failAll(err));
      worker.unref();
      return { worker, busy: 0, keys: new Set<string>() };
    });
  }

  private settle(m: WorkerResponse): void {
    const waiter = this.pending.get(m.task);
    this.pending.delete(m.task);
    if (m.signed) waiter?.resolve(m.signed);
    else waiter?.reject(new Error(m.error ?? 'signing failed'));
  }

  private failAll(err: Error): void {
    for (const waiter of this.pending.values()) waiter.reject(err);
    this.pending.clear();
  }

  sign(credential: Record<string, unknown>, key: Ed25519KeyPair): Promise<Record<string, unknown>> {
    const slot = this.workers.reduce((a, b) => (b.busy < a.busy ? b : a));
    if (!slot.keys.has(key.id!)) {
      slot.worker.postMessage({ type: 'key', id: key.id!, controller: key.controller!, publicKeyMultibase: key.publicKeyMultibase, secretKeyMultibase: key.secretKeyMultibase! } satisfies WorkerRequest);
      slot.keys.add(key.id!);
    }
    const task = this.next++;
    // A waiting signature keeps the process alive; an idle pool does not.
    if (slot.busy++ === 0) slot.worker.ref();
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      this.pending.set(task, { resolve, reject });
      slot.worker.postMessage({ type: 'sign', task, keyId: key.id!, credential } satisfies WorkerRequest);
    }).finally(() => {
      if (--slot.busy === 0) slot.worker.unref();
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }
}
