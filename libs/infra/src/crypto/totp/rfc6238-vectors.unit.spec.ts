import { generateTotp } from './generate-totp';
import { verifyTotp } from './verify-totp';

/** RFC 4648 base32, written out here so the vectors do not depend on the decoder under test. */
function base32(bytes: Buffer): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const byte of bytes) bits += byte.toString(2).padStart(8, '0');
  let out = '';
  for (let at = 0; at < bits.length; at += 5) out += alphabet[parseInt(bits.slice(at, at + 5).padEnd(5, '0'), 2)];
  return out;
}

/** RFC 6238 Appendix B, the SHA-1 rows: the seed is the ASCII string "12345678901234567890". */
const SEED = base32(Buffer.from('12345678901234567890', 'ascii'));
const VECTORS: readonly (readonly [unixSeconds: number, stepHex: string, totp: string])[] = [
  [59, '0000000000000001', '94287082'],
  [1111111109, '00000000023523EC', '07081804'],
  [1111111111, '00000000023523ED', '14050471'],
  [1234567890, '000000000273EF07', '89005924'],
  [2000000000, '0000000003F940AA', '69279037'],
  [20000000000, '0000000027BC86AA', '65353130'],
];

describe('RFC 6238 Appendix B (SHA-1)', () => {
  it('the seed is the base32 the vectors are usually quoted with', () => {
    expect(SEED).toBe('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');
  });

  it.each(VECTORS)('at %i s (T = 0x%s) the 8-digit code is %s', (unixSeconds, stepHex, totp) => {
    const instant = new Date(unixSeconds * 1000);
    expect(generateTotp(SEED, instant, { digits: 8 })).toBe(totp);
    expect(verifyTotp(totp, SEED, instant, { digits: 8 })).toEqual({ ok: true, step: parseInt(stepHex, 16) });
  });

  it.each(VECTORS)('at %i s the 6-digit code is the last six digits of the 8-digit one', (unixSeconds, _, totp) => {
    const instant = new Date(unixSeconds * 1000);
    expect(generateTotp(SEED, instant)).toBe(totp.slice(-6));
    expect(verifyTotp(totp.slice(-6), SEED, instant).ok).toBe(true);
    // A code of the wrong length is malformed, not merely wrong.
    expect(verifyTotp(totp, SEED, instant)).toEqual({ ok: false, reason: 'malformed' });
  });
});
