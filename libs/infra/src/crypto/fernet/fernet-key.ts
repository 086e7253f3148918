import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { FernetInvalidKeyError } from './fernet-errors';
import { decodeUrlSafeBase64, encodeUrlSafeBase64 } from './fernet-token';

const KEY_BYTES = 32;
const REDACTED = '[FernetKey]';

/**
 * A Fernet key: 32 bytes, the first 16 sign (HMAC-SHA256), the last 16 encrypt (AES-128-CBC).
 *
 * The object refuses to show its bytes to `console.log`, `JSON.stringify` or string interpolation, so a key that
 * ends up in a log line or an error report by accident appears as `[FernetKey]`. The text form is reachable only
 * through {@link FernetKey.exportSecret}, whose name says what it hands out.
 */
export class FernetKey {
  readonly signingKey: Buffer;
  readonly encryptionKey: Buffer;

  /** From 32 raw bytes, e.g. derived with HKDF from a server secret. The bytes are copied. */
  constructor(raw: Uint8Array) {
    if (!(raw instanceof Uint8Array) || raw.length !== KEY_BYTES) {
      throw new FernetInvalidKeyError(`a key is ${KEY_BYTES} bytes`);
    }
    const bytes = Buffer.from(raw);
    this.signingKey = bytes.subarray(0, 16);
    this.encryptionKey = bytes.subarray(16);
  }

  /** A fresh key from the CSPRNG. */
  static generate(): FernetKey {
    return new FernetKey(randomBytes(KEY_BYTES));
  }

  /**
   * Reads a key in Fernet's text form: 32 bytes in URL-safe base64 with padding (44 characters), as Python's
   * `Fernet.generate_key()` writes it. Standard base64, missing padding and stray characters are refused rather
   * than guessed at, so one key has one spelling in every configuration.
   */
  static parse(encoded: string): FernetKey {
    if (typeof encoded !== 'string') throw new FernetInvalidKeyError('a key is a string');
    const raw = decodeUrlSafeBase64(encoded.trim());
    if (raw === null || raw.length !== KEY_BYTES) {
      throw new FernetInvalidKeyError(`a key is ${KEY_BYTES} bytes in URL-safe base64 with padding (44 characters)`);
    }
    return new FernetKey(raw);
  }

  /** The key in Fernet's text form. This is the secret itself: for configuration and key stores, never for logs. */
  exportSecret(): string {
    return encodeUrlSafeBase64(Buffer.concat([this.signingKey, this.encryptionKey]));
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}

/** A fresh key in Fernet's text form, the counterpart of Python's `Fernet.generate_key()`. */
export function generateFernetKey(): string {
  return FernetKey.generate().exportSecret();
}
