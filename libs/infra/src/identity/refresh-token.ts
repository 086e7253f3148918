import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Refresh tokens are `<session id>.<counter>.<mac>` with `mac = HMAC-SHA256(key, session id ‖ ":" ‖ counter)`.
 * Nothing is stored that could be replayed, the server can hand out the same successor twice, and a token with a
 * valid MAC but an old counter is proof of reuse (a forged one never gets that far).
 */
export interface RefreshTokenClaims {
  readonly sessionId: string;
  readonly counter: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function mac(key: Buffer, sessionId: string, counter: number): Buffer {
  return createHmac('sha256', key).update(`${sessionId}:${counter}`).digest();
}

export function encodeRefreshToken(key: Buffer, claims: RefreshTokenClaims): string {
  return `${claims.sessionId}.${claims.counter}.${mac(key, claims.sessionId, claims.counter).toString('base64url')}`;
}

/** The claims of a genuine token, or null for anything else (malformed or forged). */
export function decodeRefreshToken(key: Buffer, token: string): RefreshTokenClaims | null {
  if (token.length > 200) return null;
  const [sessionId, counterText, macText, ...rest] = token.split('.');
  if (rest.length > 0 || !sessionId || !counterText || !macText) return null;
  if (!UUID.test(sessionId) || !/^(0|[1-9]\d{0,14})$/.test(counterText)) return null;
  const counter = Number(counterText);
  const presented = Buffer.from(macText, 'base64url');
  const expected = mac(key, sessionId, counter);
  if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) return null;
  return { sessionId, counter };
}
