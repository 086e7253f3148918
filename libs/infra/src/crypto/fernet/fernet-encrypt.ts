import { randomBytes } from 'node:crypto';
import { FernetInvalidOptionError } from './fernet-errors';
import type { FernetKey } from './fernet-key';
import { epochSeconds, IV_BYTES, sealToken, toBytes } from './fernet-token';

export interface FernetEncryptOptions {
  /** The time stamped into the token (default: the system clock). */
  readonly clock?: () => Date;
}

/** Encrypts and signs `plaintext` (a string is taken as UTF-8) into a Fernet token with a fresh random IV. */
export function fernetEncrypt(key: FernetKey, plaintext: Uint8Array | string, options: FernetEncryptOptions = {}): string {
  const now = (options.clock ?? (() => new Date()))();
  return sealToken(key, toBytes(plaintext), epochSeconds(now), randomBytes(IV_BYTES));
}

export interface FernetFixedIvOptions {
  readonly iv: Uint8Array;
  readonly issuedAt: Date;
}

/**
 * Encrypts with a caller-chosen IV, which exists to reproduce the spec's `generate` vectors byte for byte.
 * Never use it for real data: CBC with a repeated IV under one key shows which plaintexts share a prefix.
 */
export function fernetEncryptWithFixedIv(key: FernetKey, plaintext: Uint8Array | string, options: FernetFixedIvOptions): string {
  if (!(options.iv instanceof Uint8Array) || options.iv.length !== IV_BYTES) {
    throw new FernetInvalidOptionError(`the IV is ${IV_BYTES} bytes`);
  }
  return sealToken(key, toBytes(plaintext), epochSeconds(options.issuedAt), Buffer.from(options.iv));
}
