import { type DataKey, decryptField, encryptField, type FieldAad } from '../envelope';
import { formatPersonalToken, parsePersonalToken } from './personal-token';

/** A person's key in plaintext: only ever in memory, wrapped by the KMS at rest (`authz.person_keys`). */
export interface PersonKey {
  readonly subject: string;
  readonly dataKey: DataKey;
}

/**
 * The personal fields that enter events, each named once: the name is bound into the AAD, so a ciphertext cannot
 * be moved to another field (an email shown as a user agent) or another record.
 */
export type PersonalField = 'request.ip' | 'request.userAgent' | 'user.email' | 'user.displayName' | 'invitation.email';

export interface PersonalBinding {
  /**
   * The record the value belongs to: the request id for `request.*` (every event of one request carries the same
   * metadata), the user id for `user.*`, the invitation id for `invitation.email`.
   */
  readonly record: string;
  readonly field: PersonalField;
}

/** The envelope's AAD with the owner slot naming the person, so a person's token never opens as an org's field. */
export function personalAad(subject: string, binding: PersonalBinding): FieldAad {
  return { orgId: `person:${subject}`, record: binding.record, field: binding.field };
}

/** Seals one personal value for its person (AES-256-GCM, AAD binding person, record and field). */
export function sealPersonal(person: PersonKey, plaintext: string, binding: PersonalBinding): string {
  return formatPersonalToken(person.subject, encryptField(person.dataKey, plaintext, personalAad(person.subject, binding)));
}

/**
 * Opens a token from {@link sealPersonal} with its person's key; throws (`FieldIntegrityError`, `RangeError`) for
 * another person's key, another record or field, or a key that replaced an erased one.
 */
export function openPersonal(person: PersonKey, token: string, binding: PersonalBinding): string {
  const { subject, fieldToken } = parsePersonalToken(token);
  if (subject !== person.subject) throw new RangeError('The token belongs to another person.');
  return decryptField(person.dataKey, fieldToken, personalAad(subject, binding));
}
