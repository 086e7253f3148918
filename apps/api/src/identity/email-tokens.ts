import { createHash, randomBytes } from 'node:crypto';

/** Single-use email tokens: 32 random bytes in the link, only their SHA-256 in the database. */
export function newEmailToken(): { token: string; hash: Buffer } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: hashEmailToken(token) };
}

export function hashEmailToken(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}
