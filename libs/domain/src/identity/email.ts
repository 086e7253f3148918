/** Emails compare case-insensitively after NFC normalisation and trimming; the original spelling is kept for display. */
export function normalizeEmail(email: string): string {
  return email.normalize('NFC').trim().toLowerCase();
}

// Deliberately simple: one @, something on both sides, a dot in the domain, no spaces or control characters.
// Whether the mailbox exists is what the verification link proves.
const SHAPE = /^[^\s@\p{Cc}]{1,64}@[^\s@\p{Cc}]+\.[^\s@\p{Cc}]{2,}$/u;

export function isPlausibleEmail(email: string): boolean {
  const trimmed = email.trim();
  return trimmed.length <= 254 && SHAPE.test(trimmed);
}
