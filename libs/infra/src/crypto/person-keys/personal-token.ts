import { FieldTokenMalformedError, parseFieldToken } from '../envelope';
import { isPersonSubject } from './person-subject';

/**
 * A sealed personal value as it is stored in an event: `pd1:<subject>:<field token>`. The subject says whose key
 * opens it (the subject is a pseudonym, not personal data once its key row is gone); the field token is the
 * envelope's `v1.<keyVersion>.<base64url>`. A string, so it fits where the plaintext was (`metadata.ip` stays a
 * string or null).
 */
export const PERSONAL_TOKEN_PREFIX = 'pd1:';

export interface ParsedPersonalToken {
  readonly subject: string;
  readonly fieldToken: string;
}

/** `fieldToken` comes straight from `encryptField` (sealing is on every command's path: no re-parsing here). */
export function formatPersonalToken(subject: string, fieldToken: string): string {
  if (!isPersonSubject(subject)) throw new RangeError('Not a person subject.');
  if (!fieldToken.startsWith('v1.')) throw new RangeError('Not a field token.');
  return `${PERSONAL_TOKEN_PREFIX}${subject}:${fieldToken}`;
}

/** Is this value (of any type) shaped like a personal token? Cheap; {@link parsePersonalToken} checks fully. */
export function isPersonalToken(value: unknown): value is string {
  return typeof value === 'string' && value.startsWith(PERSONAL_TOKEN_PREFIX);
}

export function parsePersonalToken(token: string): ParsedPersonalToken {
  if (!isPersonalToken(token)) throw new FieldTokenMalformedError('Not a personal-data token.');
  const rest = token.slice(PERSONAL_TOKEN_PREFIX.length);
  const colon = rest.indexOf(':');
  const subject = colon < 0 ? '' : rest.slice(0, colon);
  const fieldToken = colon < 0 ? '' : rest.slice(colon + 1);
  if (!isPersonSubject(subject)) throw new FieldTokenMalformedError('Personal-data token names no subject.');
  parseFieldToken(fieldToken);
  return { subject, fieldToken };
}
