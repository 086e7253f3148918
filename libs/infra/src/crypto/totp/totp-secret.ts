import { generateSecret } from 'otplib';
import { TotpInvalidSecretError } from './totp-errors';

/** RFC 4226 §4 recommends 160 bits; Google Authenticator and every app we know read it. */
const SECRET_BYTES = 20;

/** Base32 without padding, upper case only, 16 to 64 bytes: what we generate and what otplib's guardrails allow. */
const STORED_SECRET = /^[A-Z2-7]{26,103}$/;

/**
 * A new TOTP shared secret, base32 without padding (32 characters), from otplib's CSPRNG-backed generator.
 * Encrypt it (Fernet, with the user id inside the plaintext) before it is stored.
 */
export function generateTotpSecret(): string {
  return generateSecret({ length: SECRET_BYTES });
}

export function assertTotpSecret(secret: string): void {
  if (typeof secret !== 'string' || !STORED_SECRET.test(secret)) throw new TotpInvalidSecretError();
}
