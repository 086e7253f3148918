/**
 * Recovery codes are 12 characters in groups of four, `XXXX-XXXX-XXXX`, from a 32-character alphabet with no
 * 0/O or 1/I to confuse: 5 bits a character, 60 bits a code. That is far beyond guessing online (attempts are
 * rate-limited) and, with a keyed hash, beyond brute force from a leaked table too.
 */
export const RECOVERY_CODE_ALPHABET = '23456789ABCDEFGHJKLMNPQRSTUVWXYZ';
export const RECOVERY_CODE_LENGTH = 12;
const GROUP = 4;

export const RECOVERY_CODE_BITS = RECOVERY_CODE_LENGTH * Math.log2(RECOVERY_CODE_ALPHABET.length);

const CANONICAL = new RegExp(`^[${RECOVERY_CODE_ALPHABET}]{${RECOVERY_CODE_LENGTH}}$`);

/** Far longer than any spacing of a real code; bounds the work done on hostile input. */
const MAX_INPUT_LENGTH = 64;

export function formatRecoveryCode(characters: string): string {
  const groups: string[] = [];
  for (let at = 0; at < characters.length; at += GROUP) groups.push(characters.slice(at, at + GROUP));
  return groups.join('-');
}

/**
 * The canonical `XXXX-XXXX-XXXX` form of what a user typed, or null if it cannot be a recovery code. Case, spaces
 * and dashes (any Unicode dash, as phones and word processors substitute them) are ignored; full-width letters
 * and digits are folded by NFKC.
 */
export function normalizeRecoveryCode(input: string): string | null {
  if (typeof input !== 'string' || input.length > MAX_INPUT_LENGTH) return null;
  const compact = input.normalize('NFKC').replace(/[\s\p{Pd}]+/gu, '').toUpperCase();
  return CANONICAL.test(compact) ? formatRecoveryCode(compact) : null;
}
