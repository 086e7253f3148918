import { isDataKeyVersion } from './data-key';
import { FieldTokenMalformedError } from './envelope-errors';

/** `v1.<keyVersion>.<base64url(nonce ‖ ciphertext ‖ tag)>`: compact, ASCII, safe in JSON, SQL text and URLs. */
export const FIELD_TOKEN_FORMAT = 'v1';
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;

// Only the short header is matched by a regular expression: over a 27 kB body a character class costs more than
// the decryption (bench:crypto). The body is checked by the canonical round trip below instead.
const HEADER = /^v1\.([1-9][0-9]{0,9})\./;

export interface ParsedFieldToken {
  readonly keyVersion: number;
  /** nonce ‖ ciphertext ‖ tag */
  readonly sealed: Buffer;
}

export function formatFieldToken(keyVersion: number, sealed: Buffer): string {
  return `${FIELD_TOKEN_FORMAT}.${keyVersion}.${sealed.toString('base64url')}`;
}

export function parseFieldToken(token: string): ParsedFieldToken {
  const match = typeof token === 'string' ? HEADER.exec(token) : null;
  if (match === null) throw new FieldTokenMalformedError('Not a v1 field token.');
  const keyVersion = Number(match[1]);
  if (!isDataKeyVersion(keyVersion)) throw new FieldTokenMalformedError('Field token key version out of range.');
  const encoded = token.slice(match[0].length);
  if (encoded.length === 0) throw new FieldTokenMalformedError('Not a v1 field token.');
  const sealed = Buffer.from(encoded, 'base64url');
  // Node's decoder skips what it cannot read and takes the base64 alphabet too: re-encoding and comparing proves
  // every character is base64url, with one canonical spelling per token (which keeps tokens comparable).
  if (sealed.toString('base64url') !== encoded) throw new FieldTokenMalformedError('Field token is not canonical base64url.');
  if (sealed.length < NONCE_BYTES + TAG_BYTES) throw new FieldTokenMalformedError('Field token is too short.');
  return { keyVersion, sealed };
}

/**
 * Which DEK version a token needs, so the caller can fetch that one before decrypting. Reads the header only (a
 * list of long tokens is not decoded twice); {@link parseFieldToken} checks the whole token when it is opened.
 */
export function fieldTokenKeyVersion(token: string): number {
  const match = typeof token === 'string' ? HEADER.exec(token) : null;
  if (match === null || token.length === match[0].length) throw new FieldTokenMalformedError('Not a v1 field token.');
  const keyVersion = Number(match[1]);
  if (!isDataKeyVersion(keyVersion)) throw new FieldTokenMalformedError('Field token key version out of range.');
  return keyVersion;
}
