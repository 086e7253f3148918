import { randomBytes } from 'node:crypto';
import { generateRecoveryCodes, RECOVERY_CODE_COUNT } from './generate-recovery-codes';
import { hashRecoveryCode } from './hash-recovery-code';
import { normalizeRecoveryCode, RECOVERY_CODE_ALPHABET, RECOVERY_CODE_BITS } from './recovery-code-format';
import { RecoveryCodeMalformedError } from './totp-errors';

const FORMAT = /^[23456789ABCDEFGHJKLMNPQRSTUVWXYZ]{4}-[23456789ABCDEFGHJKLMNPQRSTUVWXYZ]{4}-[23456789ABCDEFGHJKLMNPQRSTUVWXYZ]{4}$/;

describe('recovery codes', () => {
  it('come ten at a time, XXXX-XXXX-XXXX, distinct, with at least 60 bits each', () => {
    const codes = generateRecoveryCodes();
    expect(codes).toHaveLength(RECOVERY_CODE_COUNT);
    expect(RECOVERY_CODE_COUNT).toBe(10);
    for (const code of codes) expect(code).toMatch(FORMAT);
    expect(new Set(codes).size).toBe(10);
    expect(RECOVERY_CODE_BITS).toBeGreaterThanOrEqual(60);
  });

  it('use an alphabet of 32 characters without 0, O, 1 or I', () => {
    expect(new Set(RECOVERY_CODE_ALPHABET).size).toBe(32);
    for (const ambiguous of '0O1I') expect(RECOVERY_CODE_ALPHABET).not.toContain(ambiguous);
  });

  it('do not repeat across many sets, and use the whole alphabet', () => {
    const codes = Array.from({ length: 200 }, () => generateRecoveryCodes()).flat();
    expect(new Set(codes).size).toBe(codes.length);
    const seen = new Set(codes.join('').replace(/-/g, ''));
    expect(seen.size).toBe(32);
  });

  it('normalise what users type: case, spaces, dashes of any kind, full-width characters', () => {
    const [code] = generateRecoveryCodes(1) as [string];
    const compact = code.replace(/-/g, '');
    for (const typed of [
      code,
      code.toLowerCase(),
      compact,
      compact.toLowerCase(),
      ` ${code.replace(/-/g, ' ')} `,
      code.replace(/-/g, '–'),
      `${compact.slice(0, 2)}-${compact.slice(2, 7)} ${compact.slice(7)}`,
      code.replace(/[A-Z0-9]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0)),
    ]) {
      expect(normalizeRecoveryCode(typed)).toBe(code);
    }
  });

  it.each([
    ['too short', 'ABCD-EFGH-JKL'],
    ['too long', 'ABCD-EFGH-JKLMN'],
    ['an ambiguous character', 'ABCD-EFGH-JKL0'],
    ['another symbol', 'ABCD-EFGH-JK.M'],
    ['a TOTP code', '123456'],
    ['huge input', 'A'.repeat(10_000)],
    ['the empty string', ''],
  ])('refuse input with %s', (_, input) => {
    expect(normalizeRecoveryCode(input)).toBeNull();
    expect(() => hashRecoveryCode(input)).toThrow(RecoveryCodeMalformedError);
  });

  it('hash the canonical form, so any spelling of a code finds the stored hash', () => {
    const [code] = generateRecoveryCodes(1) as [string];
    const stored = hashRecoveryCode(code);
    expect(stored).toMatch(/^[0-9a-f]{64}$/);
    expect(stored).not.toContain(code);
    expect(hashRecoveryCode(code.toLowerCase().replace(/-/g, ' '))).toBe(stored);
    expect(hashRecoveryCode(generateRecoveryCodes(1)[0]!)).not.toBe(stored);
  });

  it('hash with a server key when given one: a different value per key, stable per key', () => {
    const [code] = generateRecoveryCodes(1) as [string];
    const key = randomBytes(32);
    const keyed = hashRecoveryCode(code, key);
    expect(keyed).toMatch(/^[0-9a-f]{64}$/);
    expect(hashRecoveryCode(code.toLowerCase(), key)).toBe(keyed);
    expect(keyed).not.toBe(hashRecoveryCode(code));
    expect(keyed).not.toBe(hashRecoveryCode(code, randomBytes(32)));
  });

  it('refuse a short hashing key and a silly count', () => {
    const [code] = generateRecoveryCodes(1) as [string];
    expect(() => hashRecoveryCode(code, randomBytes(16))).toThrow(expect.objectContaining({ code: 'TOTP.INVALID_OPTION' }));
    for (const count of [0, -1, 1.5, 101]) {
      expect(() => generateRecoveryCodes(count)).toThrow(expect.objectContaining({ code: 'TOTP.INVALID_OPTION' }));
    }
  });
});
