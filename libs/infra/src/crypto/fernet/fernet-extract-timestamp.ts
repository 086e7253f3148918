import { FernetInvalidTokenError } from './fernet-errors';
import type { FernetKey } from './fernet-key';
import { isSignedBy, parseToken } from './fernet-token';

/**
 * When an authentic token was made, without decrypting it (Python's `Fernet.extract_timestamp`): for audits of
 * key rotation. The stamp of an unverified token is the sender's word, so the HMAC is checked first.
 */
export function fernetExtractTimestamp(key: FernetKey, token: string): Date {
  const parts = parseToken(token);
  if (!isSignedBy(key, parts)) throw new FernetInvalidTokenError('signature mismatch');
  return new Date(parts.timestamp * 1000);
}
