import { randomBytes } from 'node:crypto';
import { fernetEncrypt } from './fernet-encrypt';
import type { FernetDecryptOptions } from './fernet-decrypt';
import { FernetInvalidKeyError, FernetInvalidOptionError, FernetInvalidTokenError } from './fernet-errors';
import { FernetKey } from './fernet-key';
import { checkTokenTime, checkTtl, decryptSigned, IV_BYTES, isSignedBy, parseToken, sealToken, type FernetTokenParts } from './fernet-token';

export interface MultiFernetOptions {
  /** The time stamped into new tokens and the ttl is measured against (default: the system clock). */
  readonly clock?: () => Date;
}

/**
 * Key rotation as Python's `MultiFernet`: the first key encrypts, every listed key decrypts. To rotate, put the
 * new key first, {@link MultiFernet.rotate} every stored token, then drop the old key from the list.
 */
export class MultiFernet {
  readonly #keys: readonly FernetKey[];
  readonly #clock: () => Date;

  constructor(keys: readonly FernetKey[], options: MultiFernetOptions = {}) {
    if (!Array.isArray(keys) || keys.length === 0) throw new FernetInvalidOptionError('MultiFernet needs at least one key');
    if (!keys.every((key) => key instanceof FernetKey)) throw new FernetInvalidKeyError('every key is a FernetKey');
    this.#keys = Object.freeze([...keys]);
    this.#clock = options.clock ?? (() => new Date());
  }

  encrypt(plaintext: Uint8Array | string): string {
    return fernetEncrypt(this.#keys[0]!, plaintext, { clock: this.#clock });
  }

  /** Decrypts with whichever listed key signed the token; the ttl rules are those of {@link fernetDecrypt}. */
  decrypt(token: string, options: Pick<FernetDecryptOptions, 'ttlSeconds'> = {}): Buffer {
    checkTtl(options.ttlSeconds);
    const { key, parts } = this.#signer(token);
    checkTokenTime(parts.timestamp, this.#clock(), options.ttlSeconds);
    return decryptSigned(key, parts);
  }

  /**
   * Re-encrypts a token under the first key with a fresh IV, keeping its original timestamp and applying no ttl,
   * as Python's `MultiFernet.rotate`: rotation changes the key, not the token's age, so a ttl check after
   * rotation judges the data as old as it is.
   */
  rotate(token: string): string {
    const { key, parts } = this.#signer(token);
    return sealToken(this.#keys[0]!, decryptSigned(key, parts), parts.timestamp, randomBytes(IV_BYTES));
  }

  #signer(token: string): { key: FernetKey; parts: FernetTokenParts } {
    const parts = parseToken(token);
    const key = this.#keys.find((candidate) => isSignedBy(candidate, parts));
    if (key === undefined) throw new FernetInvalidTokenError('signed by none of the keys');
    return { key, parts };
  }
}
