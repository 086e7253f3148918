import { generateSync } from 'otplib';
import { TotpInvalidSecretError } from './totp-errors';
import { digitsOf, TOTP_PERIOD_SECONDS, totpStep, type TotpOptions } from './totp-policy';
import { assertTotpSecret } from './totp-secret';

/** The code an authenticator app shows at `instant` for `secret` (base32). */
export function generateTotp(secret: string, instant: Date, options: TotpOptions = {}): string {
  return totpForStep(secret, totpStep(instant), digitsOf(options));
}

export function totpForStep(secret: string, step: number, digits: 6 | 8): string {
  assertTotpSecret(secret);
  try {
    return generateSync({ secret, epoch: step * TOTP_PERIOD_SECONDS, period: TOTP_PERIOD_SECONDS, algorithm: 'sha1', digits });
  } catch {
    // otplib's message can quote a character of the secret; ours never does.
    throw new TotpInvalidSecretError();
  }
}
