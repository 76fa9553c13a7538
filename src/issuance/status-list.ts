import { gunzipSync, gzipSync } from 'node:zlib';
import { CREDENTIALS_V2 } from './contexts.js';

/**
 * W3C Bitstring Status List v1.0: a list of revocation bits, published as a signed credential
 * whose `encodedList` is the multibase base64url (prefix "u") of the GZIP-compressed bitstring.
 * Bit 0 is the most significant bit of the first byte.
 */

/** The specification's minimum: 16 KiB of bits, so that one credential's index says little about it. */
export const STATUS_LIST_BITS = 131_072;
const BYTES = STATUS_LIST_BITS / 8;

export class StatusListError extends Error {}

function checkIndex(index: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= STATUS_LIST_BITS) throw new StatusListError(`status list index ${index} is outside 0..${STATUS_LIST_BITS - 1}`);
}

export class StatusBits {
  private constructor(private readonly bytes: Uint8Array) {}

  static empty(): StatusBits {
    return new StatusBits(new Uint8Array(BYTES));
  }

  /** Reads an encodedList, refusing anything but exactly one list of the expected size (no zip bombs). */
  static decode(encodedList: string): StatusBits {
    if (!encodedList.startsWith('u')) throw new StatusListError('encodedList must be multibase base64url (start with "u")');
    let bytes: Buffer;
    try {
      bytes = gunzipSync(Buffer.from(encodedList.slice(1), 'base64url'), { maxOutputLength: BYTES });
    } catch {
      throw new StatusListError(`encodedList is not a GZIP-compressed list of at most ${STATUS_LIST_BITS} bits`);
    }
    if (bytes.length !== BYTES) throw new StatusListError(`encodedList holds ${bytes.length * 8} bits, not ${STATUS_LIST_BITS}`);
    return new StatusBits(new Uint8Array(bytes));
  }

  get(index: number): boolean {
    checkIndex(index);
    return (this.bytes[index >> 3]! & (0x80 >> (index & 7))) !== 0;
  }

  set(index: number, value: boolean): void {
    checkIndex(index);
    const mask = 0x80 >> (index & 7);
    this.bytes[index >> 3] = value ? this.bytes[index >> 3]! | mask : this.bytes[index >> 3]! & ~mask;
  }

  encode(): string {
    return `u${gzipSync(this.bytes).toString('base64url')}`;
  }
}

export type StatusPurpose = 'revocation';

/** The unsigned status list credential for `bits`, published at `url`. */
export function statusListCredential(input: { url: string; issuer: string; validFrom: string; purpose: StatusPurpose; bits: StatusBits }): Record<string, unknown> {
  return {
    '@context': [CREDENTIALS_V2],
    id: input.url,
    type: ['VerifiableCredential', 'BitstringStatusListCredential'],
    issuer: input.issuer,
    validFrom: input.validFrom,
    credentialSubject: { id: `${input.url}#list`, type: 'BitstringStatusList', statusPurpose: input.purpose, encodedList: input.bits.encode() },
  };
}

/** A credential's entry in a status list. */
export function statusListEntry(listUrl: string, index: number, purpose: StatusPurpose): Record<string, unknown> {
  checkIndex(index);
  return { id: `${listUrl}#${index}`, type: 'BitstringStatusListEntry', statusPurpose: purpose, statusListIndex: String(index), statusListCredential: listUrl };
}
