/**
 * What a new password must satisfy (NIST SP 800-63B §3.1.1.2): a length window and a blocklist of common and
 * context-specific values, and nothing else. Composition rules (a digit, a symbol, mixed case) are deliberately
 * absent: they push people towards `Password1!` without making guessing measurably harder.
 */
export const PASSWORD_MIN_LENGTH = 12;
/** Long enough for any passphrase or password manager; bounds the work a single sign-up can ask of the hasher. */
export const PASSWORD_MAX_LENGTH = 256;

export type PasswordProblem =
  | { readonly code: 'PASSWORD.TOO_SHORT'; readonly message: string; readonly minLength: number }
  | { readonly code: 'PASSWORD.TOO_LONG'; readonly message: string; readonly maxLength: number }
  | { readonly code: 'PASSWORD.COMMON'; readonly message: string }
  | { readonly code: 'PASSWORD.CONTAINS_IDENTITY'; readonly message: string };

export type PasswordProblemCode = PasswordProblem['code'];

export interface PasswordContext {
  readonly email: string;
  readonly displayName: string;
  /** Blocklist lookup; given the normalised, lower-cased candidate. */
  readonly isCommon: (candidate: string) => boolean;
}

// A shorter fragment of an email or name ("al", "jo") turns up inside unrelated passphrases too often to refuse
// on containment alone; such a fragment is refused only when it is the whole password.
const MIN_IDENTITY_FRAGMENT = 4;

/** Every rule the password breaks, in a stable order; an empty array means it is acceptable. */
export function checkPassword(password: string, context: PasswordContext): PasswordProblem[] {
  // Counted in code points after NFC, so "é" typed precomposed or as e + combining accent counts once either way.
  const normalized = password.normalize('NFC');
  const length = [...normalized].length;
  const folded = fold(normalized);
  const problems: PasswordProblem[] = [];

  if (length < PASSWORD_MIN_LENGTH) {
    problems.push({
      code: 'PASSWORD.TOO_SHORT',
      message: `must be at least ${PASSWORD_MIN_LENGTH} characters long`,
      minLength: PASSWORD_MIN_LENGTH,
    });
  }
  if (length > PASSWORD_MAX_LENGTH) {
    problems.push({
      code: 'PASSWORD.TOO_LONG',
      message: `must be at most ${PASSWORD_MAX_LENGTH} characters long`,
      maxLength: PASSWORD_MAX_LENGTH,
    });
  }
  if (folded.length > 0 && context.isCommon(folded)) {
    problems.push({ code: 'PASSWORD.COMMON', message: 'is too common: it appears in lists of leaked passwords' });
  }
  const containsIdentity = identityFragments(context).some(
    (fragment) => folded === fragment || ([...fragment].length >= MIN_IDENTITY_FRAGMENT && folded.includes(fragment)),
  );
  if (containsIdentity) {
    problems.push({ code: 'PASSWORD.CONTAINS_IDENTITY', message: 'must not contain your email address or name' });
  }
  return problems;
}

function fold(value: string): string {
  return value.normalize('NFC').trim().toLowerCase();
}

/** The email, its local part, the display name, and the display name run together ("Ada Lovelace" → "adalovelace"). */
function identityFragments({ email, displayName }: PasswordContext): string[] {
  const foldedEmail = fold(email);
  const at = foldedEmail.lastIndexOf('@');
  const name = fold(displayName).replace(/\s+/gu, ' ');
  const fragments = [foldedEmail, at > 0 ? foldedEmail.slice(0, at) : '', name, name.replace(/[\s\p{P}]+/gu, '')];
  return [...new Set(fragments)].filter((fragment) => fragment.length > 0);
}
