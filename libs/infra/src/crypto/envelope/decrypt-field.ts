import { createDecipheriv } from 'node:crypto';
import { assertDataKey, DataKey } from './data-key';
import { FieldIntegrityError, FieldKeyVersionMismatchError } from './envelope-errors';
import { encodeFieldAad, FieldAad } from './field-aad';
import { NONCE_BYTES, parseFieldToken, TAG_BYTES } from './field-token';

/** Opens a token from {@link encryptField}; refuses it unless the DEK and the org, record and field all match. */
export function decryptField(dataKey: DataKey, token: string, aad: FieldAad): string {
  assertDataKey(dataKey);
  const { keyVersion, sealed } = parseFieldToken(token);
  if (keyVersion !== dataKey.version) throw new FieldKeyVersionMismatchError(keyVersion, dataKey.version);
  const decipher = createDecipheriv('aes-256-gcm', dataKey.key, sealed.subarray(0, NONCE_BYTES), { authTagLength: TAG_BYTES });
  decipher.setAAD(encodeFieldAad(aad, keyVersion));
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  let plaintext: Buffer;
  try {
    plaintext = Buffer.concat([decipher.update(sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES)), decipher.final()]);
  } catch {
    throw new FieldIntegrityError(`Field ${aad.field} of record ${aad.record} does not open with this key and binding.`);
  }
  return plaintext.toString('utf8');
}
