import { createHmac, hkdfSync } from 'node:crypto';
import type { ServerSecrets } from '../server-secrets';

/**
 * Whose personal data a sealed value is: a subject. An account's subject is its id (a user, or an agent, whose
 * requests carry an IP address and user agent too); an email that names no account yet — an invitation, a failed
 * sign-in — gets a random `e-<uuid>` subject, found again through a keyed hash of the email kept only beside its
 * key (never in an event), so that deleting the key row also unlinks the pseudonym left in old events.
 */
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const ACCOUNT_SUBJECT = new RegExp(`^${UUID}$`);
const SUBJECT = new RegExp(`^(e-)?${UUID}$`);

export const EMAIL_LOOKUP_BYTES = 32;

export function isPersonSubject(value: unknown): value is string {
  return typeof value === 'string' && SUBJECT.test(value);
}

/** The subject of an account (user or agent) id; ids compare in lower case. */
export function accountSubject(id: string): string {
  const subject = id.toLowerCase();
  if (!ACCOUNT_SUBJECT.test(subject)) throw new RangeError('An account subject is a UUID.');
  return subject;
}

/** A fresh subject for an email without an account; `newId` returns a UUID. */
export function newEmailSubject(newId: () => string): string {
  const subject = `e-${newId().toLowerCase()}`;
  if (!SUBJECT.test(subject)) throw new RangeError('newId must return a UUID.');
  return subject;
}

/**
 * HMAC-SHA256 of the normalised email under the server's lookup key. Keyed, unlike a bare SHA-256, so a copy of
 * the key table cannot be reversed with a list of guessed addresses without the server secret as well.
 */
export function emailLookup(lookupKey: Buffer, normalizedEmail: string): Buffer {
  if (lookupKey.length < 32) throw new RangeError('The email lookup key is at least 32 bytes.');
  return createHmac('sha256', lookupKey).update(normalizedEmail, 'utf8').digest();
}

/**
 * The email lookup key, derived (HKDF-SHA256) from the server secrets so that the API and the operator's CLI
 * compute the same value. Derived from a sub-key rather than the root because the root is not kept in memory.
 */
export function personEmailLookupKey(secrets: ServerSecrets): Buffer {
  return Buffer.from(hkdfSync('sha256', secrets.recoveryCodeKey, Buffer.alloc(0), 'bastion person-email-lookup v1', 32));
}
