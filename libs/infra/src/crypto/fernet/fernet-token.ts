import { createCipheriv, createDecipheriv, createHmac, timingSafeEqual } from 'node:crypto';
import { FernetInvalidOptionError, FernetInvalidTokenError, FernetTokenExpiredError, FernetTokenFromFutureError } from './fernet-errors';
import type { FernetKey } from './fernet-key';

/**
 * The token layout of the Fernet spec, shared by the public operations and not exported from the module:
 *
 *   version (1 byte, 0x80) ‖ timestamp (8 bytes, big-endian seconds) ‖ IV (16) ‖ ciphertext (n × 16) ‖ HMAC (32)
 *
 * with HMAC-SHA256 under the signing key over everything before it, AES-128-CBC with PKCS #7 padding under the
 * encryption key, and the whole in URL-safe base64 with padding.
 */
export const VERSION = 0x80;
export const IV_BYTES = 16;
const BLOCK_BYTES = 16;
const TIMESTAMP_BYTES = 8;
const HMAC_BYTES = 32;
const HEADER_BYTES = 1 + TIMESTAMP_BYTES + IV_BYTES;
/** PKCS #7 always pads, so even an empty plaintext yields one ciphertext block. */
const MIN_TOKEN_BYTES = HEADER_BYTES + BLOCK_BYTES + HMAC_BYTES;

/** The reference implementation's clock-skew allowance (cryptography's `_MAX_CLOCK_SKEW`), applied with a ttl. */
export const MAX_CLOCK_SKEW_SECONDS = 60;

const URL_SAFE_BASE64 = /^[A-Za-z0-9_-]*={0,2}$/;

export function encodeUrlSafeBase64(bytes: Buffer): string {
  return bytes.toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

/**
 * Strict decoding: Node's decoder skips characters it does not know and ignores non-zero trailing bits, so the
 * input is accepted only when it is exactly the canonical encoding of what it decodes to.
 */
export function decodeUrlSafeBase64(text: string): Buffer | null {
  if (text.length % 4 !== 0 || !URL_SAFE_BASE64.test(text)) return null;
  const bytes = Buffer.from(text, 'base64url');
  return encodeUrlSafeBase64(bytes) === text ? bytes : null;
}

export interface FernetTokenParts {
  /** Seconds since the Unix epoch, as the token was stamped. */
  readonly timestamp: number;
  readonly iv: Buffer;
  readonly ciphertext: Buffer;
  /** Everything the HMAC covers. */
  readonly signed: Buffer;
  readonly hmac: Buffer;
}

/** Splits a token into its parts, checking only its shape; nothing here is authentic yet. */
export function parseToken(token: string): FernetTokenParts {
  if (typeof token !== 'string') throw new FernetInvalidTokenError('a token is a string');
  const bytes = decodeUrlSafeBase64(token);
  if (bytes === null) throw new FernetInvalidTokenError('not URL-safe base64 with padding');
  if (bytes.length < HEADER_BYTES + HMAC_BYTES) throw new FernetInvalidTokenError('too short');
  if (bytes[0] !== VERSION) throw new FernetInvalidTokenError('unknown version');
  if ((bytes.length - HEADER_BYTES - HMAC_BYTES) % BLOCK_BYTES !== 0) {
    throw new FernetInvalidTokenError('ciphertext is not a whole number of blocks');
  }
  if (bytes.length < MIN_TOKEN_BYTES) throw new FernetInvalidTokenError('no ciphertext');
  const timestamp = bytes.readBigUInt64BE(1);
  // Only a key holder can stamp a time this large; refusing it keeps every later comparison exact.
  if (timestamp > BigInt(Number.MAX_SAFE_INTEGER)) throw new FernetInvalidTokenError('timestamp out of range');
  const macAt = bytes.length - HMAC_BYTES;
  return {
    timestamp: Number(timestamp),
    iv: bytes.subarray(1 + TIMESTAMP_BYTES, HEADER_BYTES),
    ciphertext: bytes.subarray(HEADER_BYTES, macAt),
    signed: bytes.subarray(0, macAt),
    hmac: bytes.subarray(macAt),
  };
}

function hmac(key: FernetKey, data: Buffer): Buffer {
  return createHmac('sha256', key.signingKey).update(data).digest();
}

export function isSignedBy(key: FernetKey, parts: FernetTokenParts): boolean {
  return timingSafeEqual(hmac(key, parts.signed), parts.hmac);
}

/** Decrypts the ciphertext of a token whose HMAC {@link isSignedBy} has already accepted. */
export function decryptSigned(key: FernetKey, parts: FernetTokenParts): Buffer {
  try {
    const decipher = createDecipheriv('aes-128-cbc', key.encryptionKey, parts.iv);
    return Buffer.concat([decipher.update(parts.ciphertext), decipher.final()]);
  } catch {
    // Reachable only with a valid HMAC, i.e. a token a key holder built badly; the reason is not an oracle.
    throw new FernetInvalidTokenError('bad padding');
  }
}

/** The reference implementation's time rule: without a ttl, any authentic token is accepted whatever its stamp. */
export function checkTokenTime(timestamp: number, now: Date, ttlSeconds: number | undefined): void {
  if (ttlSeconds === undefined) return;
  const current = epochSeconds(now);
  if (timestamp + ttlSeconds < current) throw new FernetTokenExpiredError();
  if (current + MAX_CLOCK_SKEW_SECONDS < timestamp) throw new FernetTokenFromFutureError();
}

export function checkTtl(ttlSeconds: number | undefined): void {
  if (ttlSeconds !== undefined && !(Number.isSafeInteger(ttlSeconds) && ttlSeconds > 0)) {
    throw new FernetInvalidOptionError('ttlSeconds is a positive whole number of seconds');
  }
}

/** Whole seconds, rounded down, as Python's `int(time.time())`. */
export function epochSeconds(instant: Date): number {
  const seconds = Math.floor(instant.getTime() / 1000);
  if (!Number.isSafeInteger(seconds) || seconds < 0) {
    throw new FernetInvalidOptionError('the time is not a valid instant at or after 1970-01-01');
  }
  return seconds;
}

export function toBytes(plaintext: Uint8Array | string): Buffer {
  if (typeof plaintext === 'string') return Buffer.from(plaintext, 'utf8');
  if (plaintext instanceof Uint8Array) return Buffer.from(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength);
  throw new FernetInvalidOptionError('the plaintext is a string or a Uint8Array');
}

export function sealToken(key: FernetKey, plaintext: Buffer, timestamp: number, iv: Buffer): string {
  const cipher = createCipheriv('aes-128-cbc', key.encryptionKey, iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const header = Buffer.alloc(HEADER_BYTES);
  header[0] = VERSION;
  header.writeBigUInt64BE(BigInt(timestamp), 1);
  iv.copy(header, 1 + TIMESTAMP_BYTES);
  const signed = Buffer.concat([header, ciphertext]);
  return encodeUrlSafeBase64(Buffer.concat([signed, hmac(key, signed)]));
}
