import type { FernetKey } from './fernet-key';
import { FernetInvalidTokenError } from './fernet-errors';
import { checkTokenTime, checkTtl, decryptSigned, isSignedBy, parseToken } from './fernet-token';

export interface FernetDecryptOptions {
  /**
   * The oldest token to accept, in seconds. Off by default (unlike the npm `fernet` package's 60 s): a stored
   * secret stays readable for as long as it is stored. With a ttl, a token stamped more than 60 s in the future
   * is refused too, as in the reference implementation.
   */
  readonly ttlSeconds?: number;
  /** The time the ttl is measured against (default: the system clock). */
  readonly clock?: () => Date;
}

/**
 * Verifies and decrypts a Fernet token. The HMAC is checked (in constant time) before anything the token says is
 * believed: its time, then its padding. Throws a {@link FernetInvalidTokenError} for anything not made with `key`,
 * {@link FernetTokenExpiredError} or {@link FernetTokenFromFutureError} for an authentic token outside the ttl.
 */
export function fernetDecrypt(key: FernetKey, token: string, options: FernetDecryptOptions = {}): Buffer {
  checkTtl(options.ttlSeconds);
  const parts = parseToken(token);
  if (!isSignedBy(key, parts)) throw new FernetInvalidTokenError('signature mismatch');
  checkTokenTime(parts.timestamp, (options.clock ?? (() => new Date()))(), options.ttlSeconds);
  return decryptSigned(key, parts);
}
