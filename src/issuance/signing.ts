import { DataIntegrityProof } from '@digitalbazaar/data-integrity';
import { cryptosuite as eddsaRdfc2022 } from '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import type { Ed25519KeyPair } from '@digitalbazaar/ed25519-multikey';
import * as vc from '@digitalbazaar/vc';
import type { DocumentLoader } from '@digitalbazaar/vc';

/**
 * Signs a credential with a DataIntegrityProof (eddsa-rdfc-2022). No I/O: the loader is offline.
 * The proof is written as a one-element list: the 1EdTech OB 3.0 schema requires an array, and in
 * JSON-LD a proof set of one is the same graph as a single proof.
 */
export async function signCredential(credential: Record<string, unknown>, key: Ed25519KeyPair, documentLoader: DocumentLoader, now?: Date): Promise<Record<string, unknown>> {
  const suite = new DataIntegrityProof({ signer: key.signer(), cryptosuite: eddsaRdfc2022, ...(now ? { date: now } : {}) });
  // A copy: jsonld-signatures adds the proof to the object it is given, and a second signing of the
  // same object would carry both proofs.
  const signed = await vc.issue({ credential: { ...credential }, suite, documentLoader, ...(now ? { now } : {}) });
  return { ...signed, proof: [signed.proof].flat() };
}

export interface ProofCheck {
  verified: boolean;
  /** Why not, when not: the first error's message. */
  error?: string;
}

/**
 * Checks a credential's proof (and its validity dates as of `now`) with the given loader only.
 * Its status is left to the caller, which reads the tool's own lists (verification.ts).
 */
export async function verifyProof(credential: unknown, documentLoader: DocumentLoader, now?: Date): Promise<ProofCheck> {
  const suite = new DataIntegrityProof({ cryptosuite: eddsaRdfc2022 });
  try {
    const result = await vc.verifyCredential({ credential, suite, documentLoader, checkStatus: async () => ({ verified: true }), ...(now ? { now } : {}) });
    if (result.verified) return { verified: true };
    const first = result.error?.errors?.[0] ?? result.error ?? result.results?.find((r) => !r.verified)?.error;
    return { verified: false, error: first?.message ?? 'the proof does not verify' };
  } catch (err) {
    return { verified: false, error: (err as Error).message };
  }
}
