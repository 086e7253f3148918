import { createHash, createHmac } from 'node:crypto';
import { normalizeRecoveryCode } from './recovery-code-format';
import { RecoveryCodeMalformedError, TotpInvalidOptionError } from './totp-errors';

const DOMAIN = 'bastion recovery code v1\0';

/**
 * The value stored for a recovery code and looked up when one is presented: hex SHA-256 of the canonical form,
 * or HMAC-SHA256 under `key` (at least 32 bytes, e.g. derived from the server secret), which keeps a leaked table
 * useless without the key. No slow hash is needed: 60 random bits are not a password. The input is normalised
 * first, so however the user spaced or cased it, it hashes to the stored value; anything that cannot be a code
 * throws {@link RecoveryCodeMalformedError} (check with {@link normalizeRecoveryCode} to answer without throwing).
 */
export function hashRecoveryCode(code: string, key?: Uint8Array): string {
  const canonical = normalizeRecoveryCode(code);
  if (canonical === null) throw new RecoveryCodeMalformedError();
  if (key === undefined) return createHash('sha256').update(DOMAIN).update(canonical).digest('hex');
  if (!(key instanceof Uint8Array) || key.length < 32) throw new TotpInvalidOptionError('a recovery-code key is at least 32 bytes');
  return createHmac('sha256', key).update(DOMAIN).update(canonical).digest('hex');
}
