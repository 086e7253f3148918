import { isDataKeyVersion } from './data-key';
import { FieldTokenMalformedError } from './envelope-errors';

/** `v1.<keyVersion>.<base64url(nonce ‖ ciphertext ‖ tag)>`: compact, ASCII, safe in JSON, SQL text and URLs. */
export const FIELD_TOKEN_FORMAT = 'v1';
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;

const TOKEN = /^v1\.([1-9][0-9]{0,9})\.([A-Za-z0-9_-]+)$/;

export interface ParsedFieldToken {
  readonly keyVersion: number;
  /** nonce ‖ ciphertext ‖ tag */
  readonly sealed: Buffer;
}

export function formatFieldToken(keyVersion: number, sealed: Buffer): string {
  return `${FIELD_TOKEN_FORMAT}.${keyVersion}.${sealed.toString('base64url')}`;
}

export function parseFieldToken(token: string): ParsedFieldToken {
  const match = typeof token === 'string' ? TOKEN.exec(token) : null;
  if (match === null) throw new FieldTokenMalformedError('Not a v1 field token.');
  const keyVersion = Number(match[1]);
  if (!isDataKeyVersion(keyVersion)) throw new FieldTokenMalformedError('Field token key version out of range.');
  const encoded = match[2] as string;
  const sealed = Buffer.from(encoded, 'base64url');
  // Node's decoder skips what it cannot read; one canonical spelling per token keeps tokens comparable.
  if (sealed.toString('base64url') !== encoded) throw new FieldTokenMalformedError('Field token is not canonical base64url.');
  if (sealed.length < NONCE_BYTES + TAG_BYTES) throw new FieldTokenMalformedError('Field token is too short.');
  return { keyVersion, sealed };
}

/** Which DEK version a token needs, so the caller can fetch that one before decrypting. */
export function fieldTokenKeyVersion(token: string): number {
  return parseFieldToken(token).keyVersion;
}
