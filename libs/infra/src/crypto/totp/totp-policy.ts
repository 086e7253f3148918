import { TotpInvalidOptionError } from './totp-errors';

/**
 * The one TOTP profile Bastion uses (DESIGN §5): RFC 6238 with HMAC-SHA-1, 30-second steps, 6 digits, and one step
 * of tolerance either way. It is what every authenticator app assumes when the otpauth URI says nothing else,
 * which is why the URI carries none of these parameters.
 */
export const TOTP_ISSUER = 'Bastion';
export const TOTP_PERIOD_SECONDS = 30;
export const TOTP_DIGITS = 6;
/** RFC 6238 §5.2: one step back for transmission delay, one forward for a fast phone clock. */
export const TOTP_WINDOW_STEPS = 1;

/** 6 for users; 8 exists for the RFC 6238 vectors, which are 8 digits long. */
export type TotpDigits = 6 | 8;

export interface TotpOptions {
  readonly digits?: TotpDigits;
}

export function digitsOf(options: TotpOptions): TotpDigits {
  const digits = options.digits ?? TOTP_DIGITS;
  if (digits !== 6 && digits !== 8) throw new TotpInvalidOptionError('digits is 6 or 8');
  return digits;
}

/** The RFC 6238 time step `T = floor(unix seconds / 30)` that contains `instant`. */
export function totpStep(instant: Date): number {
  const milliseconds = instant instanceof Date ? instant.getTime() : Number.NaN;
  if (!Number.isFinite(milliseconds) || milliseconds < 0) {
    throw new TotpInvalidOptionError('the time is a valid instant at or after 1970-01-01');
  }
  return Math.floor(milliseconds / 1000 / TOTP_PERIOD_SECONDS);
}
