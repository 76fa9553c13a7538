import type { Ed25519KeyPair } from '@digitalbazaar/ed25519-multikey';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
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

interface Slot {
  worker: Worker;
  /** Tasks sent to this worker and not yet answered. */
  pending: Map<number, { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }>;
  /** Key ids this worker holds. */
  keys: Set<string>;
}

/**
 * Signs on worker threads: canonicalization is CPU-bound, so this keeps it off the event loop and
 * uses every core. Each credential goes to the least busy worker; a worker that dies fails its own
 * tasks and is replaced.
 */
export class SigningPool {
  private readonly slots: Slot[] = [];
  private readonly source = workerEntry();
  private next = 0;
  private closed = false;

  /**
   * ownDocuments: the tool's contexts that signing needs besides the bundled ones (the extension
   * context). Threads start at the first signature, so that start-up does not wait for them.
   */
  constructor(private readonly size: number, private readonly ownDocuments: Record<string, unknown>) {}

  private start(): void {
    while (this.slots.length < this.size) {
      const slot: Slot = { worker: undefined as unknown as Worker, pending: new Map(), keys: new Set() };
      this.spawn(slot);
      this.slots.push(slot);
    }
  }

  private spawn(slot: Slot): void {
    const worker = new Worker(this.source, { workerData: { ownDocuments: this.ownDocuments } });
    worker.on('message', (m: WorkerResponse) => {
      const waiter = slot.pending.get(m.task);
      slot.pending.delete(m.task);
      if (slot.pending.size === 0) worker.unref();
      if (m.signed) waiter?.resolve(m.signed);
      else waiter?.reject(new Error(m.error ?? 'signing failed'));
    });
    const replace = (err: Error) => {
      if (slot.worker !== worker) return;
      for (const waiter of slot.pending.values()) waiter.reject(err);
      slot.pending.clear();
      slot.keys.clear();
      if (!this.closed) this.spawn(slot);
    };
    worker.on('error', replace);
    worker.on('exit', (code) => replace(new Error(`a signing thread exited with code ${code}`)));
    worker.unref();
    slot.worker = worker;
  }

  sign(credential: Record<string, unknown>, key: Ed25519KeyPair): Promise<Record<string, unknown>> {
    if (this.closed) return Promise.reject(new Error('the signing pool is closed'));
    this.start();
    const slot = this.slots.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
    if (!slot.keys.has(key.id!)) {
      slot.worker.postMessage({ type: 'key', id: key.id!, controller: key.controller!, publicKeyMultibase: key.publicKeyMultibase, secretKeyMultibase: key.secretKeyMultibase! } satisfies WorkerRequest);
      slot.keys.add(key.id!);
    }
    const task = this.next++;
    // A waiting signature keeps the process alive; an idle pool does not.
    if (slot.pending.size === 0) slot.worker.ref();
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      slot.pending.set(task, { resolve, reject });
      slot.worker.postMessage({ type: 'sign', task, keyId: key.id!, credential } satisfies WorkerRequest);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
