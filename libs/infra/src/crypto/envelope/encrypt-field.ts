import { createCipheriv, randomBytes } from 'node:crypto';
import { assertDataKey, DataKey } from './data-key';
import { assertWellFormed, encodeFieldAad, FieldAad } from './field-aad';
import { formatFieldToken, NONCE_BYTES, TAG_BYTES } from './field-token';

/**
 * Seals one sensitive field under the org's DEK with AES-256-GCM, bound to its org, record and field. Done once,
 * at the command; the token then travels unchanged into the event and the read model.
 *
 * Nonces are random (96 bits): NIST SP 800-38D bounds one key to 2³² such encryptions, far above what one org's
 * DEK seals before it rotates.
 */
export function encryptField(dataKey: DataKey, plaintext: string, aad: FieldAad): string {
  assertDataKey(dataKey);
  assertWellFormed(plaintext, 'Plaintext');
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', dataKey.key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(encodeFieldAad(aad, dataKey.version));
  // Evaluated left to right: the tag is read after final().
  return formatFieldToken(dataKey.version, Buffer.concat([nonce, cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]));
}
