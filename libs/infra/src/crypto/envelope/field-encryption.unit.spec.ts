import { randomBytes } from 'node:crypto';
import { DataKey, generateDataKey } from './data-key';
import { decryptField } from './decrypt-field';
import { encryptField } from './encrypt-field';
import { FieldIntegrityError, FieldKeyVersionMismatchError, FieldTokenMalformedError } from './envelope-errors';
import { encodeFieldAad, FieldAad } from './field-aad';
import { fieldTokenKeyVersion } from './field-token';

const dek: DataKey = generateDataKey(3);
const body: FieldAad = { orgId: 'org_1', record: 'task_9', field: 'task.body' };

function errorOf(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected a failure');
}

describe('field envelope encryption', () => {
  it.each(['Ship the fix', '', 'ünïcode ✓ and 😀', 'x'.repeat(100_000)])('round-trips %#', (plaintext) => {
    expect(decryptField(dek, encryptField(dek, plaintext, body), body)).toBe(plaintext);
  });

  it('writes a compact v1 token naming its key version', () => {
    const token = encryptField(dek, 'Ship the fix', body);
    expect(token).toMatch(/^v1\.3\.[A-Za-z0-9_-]+$/);
    expect(fieldTokenKeyVersion(token)).toBe(3);
    // 12-byte nonce + 12 bytes of text + 16-byte tag = 40 bytes = 54 base64url characters.
    expect(token).toHaveLength('v1.3.'.length + 54);
  });

  it('names the key version of a token from its header alone, and refuses one without a v1 header or body', () => {
    expect(fieldTokenKeyVersion('v1.42.AAAA')).toBe(42);
    for (const bad of ['', 'v1.3.', 'v2.3.AAAA', 'v1.0.AAAA', 'plain text', 'v1.99999999999.AAAA']) {
      expect(() => fieldTokenKeyVersion(bad)).toThrow(FieldTokenMalformedError);
    }
  });

  it('seals the same plaintext differently each time', () => {
    expect(encryptField(dek, 'same', body)).not.toBe(encryptField(dek, 'same', body));
  });

  it.each<[string, FieldAad]>([
    ['another org', { ...body, orgId: 'org_2' }],
    ['another record', { ...body, record: 'task_10' }],
    ['another field', { ...body, field: 'task.title' }],
  ])('should not open a field under %s', (_case, other) => {
    const token = encryptField(dek, 'secret', body);
    const error = errorOf(() => decryptField(dek, token, other));
    expect(error).toBeInstanceOf(FieldIntegrityError);
    expect(error).toMatchObject({ code: 'ENVELOPE.INTEGRITY' });
    expect((error as Error).message).not.toContain('secret');
  });

  it('should not open ciphertexts swapped between two fields of a record', () => {
    const title: FieldAad = { ...body, field: 'task.title' };
    const titleToken = encryptField(dek, 'A title', title);
    const bodyToken = encryptField(dek, 'A body', body);
    expect(() => decryptField(dek, titleToken, body)).toThrow(FieldIntegrityError);
    expect(() => decryptField(dek, bodyToken, title)).toThrow(FieldIntegrityError);
  });

  it("should not open a field with another org's DEK of the same version", () => {
    const token = encryptField(dek, 'secret', body);
    expect(() => decryptField(generateDataKey(3), token, body)).toThrow(FieldIntegrityError);
  });

  it('names the version it needs when handed another DEK version', () => {
    const token = encryptField(dek, 'secret', body);
    expect(errorOf(() => decryptField(generateDataKey(4), token, body))).toEqual(new FieldKeyVersionMismatchError(3, 4));
  });

  it('binds the key version: editing the label to point at another version fails', () => {
    const token = encryptField(dek, 'secret', body);
    const relabelled = token.replace(/^v1\.3\./, 'v1.4.');
    expect(() => decryptField({ version: 4, key: dek.key }, relabelled, body)).toThrow(FieldIntegrityError);
  });

  it('should not open an altered token', () => {
    const token = encryptField(dek, 'secret', body);
    const sealed = Buffer.from(token.slice('v1.3.'.length), 'base64url');
    for (const index of [0, 12, sealed.length - 1]) {
      const altered = Buffer.from(sealed);
      altered[index] = (altered[index] as number) ^ 0x80;
      expect(() => decryptField(dek, `v1.3.${altered.toString('base64url')}`, body)).toThrow(FieldIntegrityError);
    }
  });

  it.each([
    ['another format version', (t: string) => t.replace(/^v1\./, 'v2.')],
    ['version 0', (t: string) => t.replace(/^v1\.3\./, 'v1.0.')],
    ['a leading zero', (t: string) => t.replace(/^v1\.3\./, 'v1.03.')],
    ['padding', (t: string) => `${t}=`],
    ['standard base64', (t: string) => t.replace(/[-_]/g, '+') + (/[-_]/.test(t) ? '' : '+')],
    ['a truncated body', (t: string) => t.slice(0, 'v1.3.'.length + 20)],
    ['whitespace', (t: string) => ` ${t}`],
    ['a trailing newline', (t: string) => `${t}\n`],
    ['a character outside base64url inside the body', (t: string) => `${t.slice(0, 12)}!${t.slice(12)}`],
    ['a header and no body', (t: string) => t.slice(0, 'v1.3.'.length)],
    ['nothing', () => ''],
  ])('refuses a malformed token: %s', (_case, spoil) => {
    const token = encryptField(dek, 'secret', body);
    expect(() => decryptField(dek, spoil(token), body)).toThrow(FieldTokenMalformedError);
  });

  it('refuses strings UTF-8 cannot carry faithfully (lone surrogates) and empty AAD parts', () => {
    expect(() => encryptField(dek, 'broken \uD800 text', body)).toThrow(RangeError);
    expect(() => encryptField(dek, 'text', { ...body, record: 'task_\uDC00' })).toThrow(RangeError);
    expect(() => encryptField(dek, 'text', { ...body, field: '' })).toThrow(RangeError);
  });

  it('refuses a DEK that is not an AES-256 key', () => {
    expect(() => encryptField({ version: 1, key: randomBytes(16) }, 'text', body)).toThrow(RangeError);
    expect(() => encryptField({ version: 0, key: randomBytes(32) }, 'text', body)).toThrow(RangeError);
  });
});

describe('the field AAD encoding', () => {
  // Pinned: tokens live in events forever, so the encoding can never change silently. Computed independently
  // (Python, struct.pack('>I', len) + UTF-8 per part).
  it('is the length-prefixed encoding of label, key version, org, record and field', () => {
    expect(encodeFieldAad(body, 3).toString('hex')).toBe(
      '0000001462617374696f6e2f6669656c642d6161642f76310000000133000000056f72675f31000000067461736b5f39000000097461736b2e626f6479',
    );
  });

  it('prefixes each part with its length in UTF-8 bytes, not UTF-16 units', () => {
    const reference = (parts: string[]) =>
      Buffer.concat(parts.flatMap((text) => [Buffer.from([0, 0, 0, Buffer.byteLength(text)]), Buffer.from(text, 'utf8')]));
    const aad = { orgId: 'orgé', record: 'tâche ✓', field: '字段' };
    expect(encodeFieldAad(aad, 12).equals(reference(['bastion/field-aad/v1', '12', 'orgé', 'tâche ✓', '字段']))).toBe(true);
  });

  it('is unambiguous where a separator would not be', () => {
    const a = encodeFieldAad({ orgId: 'org', record: 'ab', field: 'c' }, 1);
    const b = encodeFieldAad({ orgId: 'org', record: 'a', field: 'bc' }, 1);
    const c = encodeFieldAad({ orgId: 'org|a', record: 'b', field: 'c' }, 1);
    const d = encodeFieldAad({ orgId: 'org', record: 'a|b', field: 'c' }, 1);
    expect(new Set([a, b, c, d].map((x) => x.toString('hex'))).size).toBe(4);
  });

  it('opens a token sealed by an independent implementation (Python cryptography AESGCM)', () => {
    const key = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
    const token = 'v1.3.oKGio6SlpqeoqaqrtXAVXWW_atpCA-6rJ5hASlBv5X5RGCED-GsGZOM4lhXKaI-wohNBf4h4-jJVrA';
    expect(decryptField({ version: 3, key }, token, body)).toBe('Ship the fix — ünïcode ✓');
  });
});
