import { randomBytes } from 'node:crypto';
import { formatRecoveryCode, RECOVERY_CODE_ALPHABET, RECOVERY_CODE_LENGTH } from './recovery-code-format';
import { TotpInvalidOptionError } from './totp-errors';

export const RECOVERY_CODE_COUNT = 10;

/**
 * A fresh set of distinct single-use recovery codes, in canonical `XXXX-XXXX-XXXX` form, to show the user once.
 * Store only {@link hashRecoveryCode} of each.
 */
export function generateRecoveryCodes(count: number = RECOVERY_CODE_COUNT): string[] {
  if (!Number.isSafeInteger(count) || count < 1 || count > 100) throw new TotpInvalidOptionError('count is between 1 and 100');
  const codes = new Set<string>();
  while (codes.size < count) codes.add(randomRecoveryCode());
  return [...codes];
}

function randomRecoveryCode(): string {
  const bytes = randomBytes(RECOVERY_CODE_LENGTH);
  let characters = '';
  // 256 is a multiple of 32, so the low five bits of a random byte pick a character without bias.
  for (const byte of bytes) characters += RECOVERY_CODE_ALPHABET[byte & 0x1f];
  return formatRecoveryCode(characters);
}
