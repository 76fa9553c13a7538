import type { DocumentLoader } from '@digitalbazaar/vc';
import { bundledContexts } from './contexts.js';

/** A URL the tool will not resolve: neither bundled nor one of its own documents. It is never fetched. */
export class UnresolvableUrlError extends Error {
  constructor(readonly url: string) {
    super(`${url} is not a bundled context or a document of this tool, and is not fetched`);
  }
}

/** Resolves the tool's own documents (its issuers' DID documents and keys); undefined for anything else. */
export type OwnDocuments = (url: string) => Promise<unknown>;

/**
 * The only document loader signing and verification use: the bundled contexts and the tool's own
 * documents, nothing from the network. A credential naming any other URL fails to verify with that
 * URL reported, and no request is made for it.
 */
export function offlineDocumentLoader(ownDocuments: OwnDocuments = async () => undefined): DocumentLoader {
  const contexts = bundledContexts();
  return async (url) => {
    const context = contexts.get(url);
    const document = context ?? (await ownDocuments(url));
    if (document === undefined) throw new UnresolvableUrlError(url);
    return { contextUrl: null, documentUrl: url, document };
  };
}
