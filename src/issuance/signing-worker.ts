import * as Ed25519Multikey from '@digitalbazaar/ed25519-multikey';
import { parentPort, workerData } from 'node:worker_threads';
import { offlineDocumentLoader } from './document-loader.js';
import { signCredential } from './signing.js';

/** A signing thread: the pool sends each key once, then credentials to sign with it. */

export type WorkerRequest =
  | { type: 'key'; id: string; controller: string; publicKeyMultibase: string; secretKeyMultibase: string }
  | { type: 'sign'; task: number; keyId: string; credential: Record<string, unknown> };
export type WorkerResponse = { task: number; signed?: Record<string, unknown>; error?: string };

const { ownDocuments } = workerData as { ownDocuments: Record<string, unknown> };
const loader = offlineDocumentLoader(async (url) => ownDocuments[url]);
const keys = new Map<string, Promise<Ed25519Multikey.Ed25519KeyPair>>();

parentPort!.on('message', (message: WorkerRequest) => {
  if (message.type === 'key') {
    const { type: _type, ...key } = message;
    keys.set(key.id, Ed25519Multikey.from({ '@context': 'https://w3id.org/security/multikey/v1', type: 'Multikey', ...key }));
    return;
  }
  const key = keys.get(message.keyId);
  (key ? key.then((pair) => signCredential(message.credential, pair, loader)) : Promise.reject(new Error(`no key ${message.keyId} in this worker`)))
    .then((signed) => parentPort!.postMessage({ task: message.task, signed } satisfies WorkerResponse))
    .catch((err: Error) => parentPort!.postMessage({ task: message.task, error: err.message } satisfies WorkerResponse));
});
