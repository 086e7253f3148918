import { acceptTotp } from './accept-totp';
import { generateTotp } from './generate-totp';
import { TotpError, type TotpErrorCode } from './totp-errors';
import { totpStep } from './totp-policy';
import { verifyTotp } from './verify-totp';

const SECRET = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
const NOW = new Date('2030-03-17T17:46:45Z');
const STEP = totpStep(NOW);
const codeAt = (stepOffset: number): string => generateTotp(SECRET, new Date(NOW.getTime() + stepOffset * 30_000));

function codeOf(run: () => unknown): TotpErrorCode {
  try {
    run();
  } catch (error) {
    if (error instanceof TotpError) return error.code;
    throw error;
  }
  throw new Error('no error was thrown');
}

describe('acceptTotp', () => {
  it('accepts a code of the window the first time, returning its step', () => {
    expect(acceptTotp(codeAt(0), SECRET, NOW, null)).toEqual({ ok: true, step: STEP });
    expect(acceptTotp(codeAt(-1), SECRET, NOW, null)).toEqual({ ok: true, step: STEP - 1 });
    expect(acceptTotp(codeAt(1), SECRET, NOW, STEP)).toEqual({ ok: true, step: STEP + 1 });
  });

  it('refuses a step at or before the last used one as reused, and a code outside the window as a mismatch', () => {
    expect(acceptTotp(codeAt(0), SECRET, NOW, STEP)).toEqual({ ok: false, reason: 'reused' });
    expect(acceptTotp(codeAt(-1), SECRET, NOW, STEP)).toEqual({ ok: false, reason: 'reused' });
    expect(acceptTotp(codeAt(0), SECRET, NOW, STEP + 1)).toEqual({ ok: false, reason: 'reused' });
    expect(acceptTotp(codeAt(2), SECRET, NOW, null)).toEqual({ ok: false, reason: 'mismatch' });
    expect(acceptTotp(codeAt(-2), SECRET, NOW, null)).toEqual({ ok: false, reason: 'mismatch' });
  });

  it('refuses without throwing when the last used step is ahead of the whole window (a clock set back)', () => {
    expect(acceptTotp(codeAt(0), SECRET, NOW, STEP + 1000)).toEqual({ ok: false, reason: 'reused' });
  });

  it('ignores the spaces apps show and people paste', () => {
    const code = codeAt(0);
    expect(acceptTotp(`${code.slice(0, 3)} ${code.slice(3)}`, SECRET, NOW, null)).toEqual({ ok: true, step: STEP });
    expect(acceptTotp(` ${code}\n`, SECRET, NOW, null)).toEqual({ ok: true, step: STEP });
  });

  it.each(['', '12345', '1234567', '12a456', '١٢٣٤٥٦', '123-456', '1'.repeat(1000)])('refuses %j as malformed', (input) => {
    expect(acceptTotp(input, SECRET, NOW, null)).toEqual({ ok: false, reason: 'malformed' });
    expect(verifyTotp(input, SECRET, NOW)).toEqual({ ok: false, reason: 'malformed' });
  });

  it('refuses non-string input as malformed', () => {
    expect(acceptTotp(123456 as unknown as string, SECRET, NOW, null)).toEqual({ ok: false, reason: 'malformed' });
  });

  it('works at the very start of Unix time, where the window has no step -1', () => {
    const start = new Date(10_000);
    expect(acceptTotp(generateTotp(SECRET, start), SECRET, start, null)).toEqual({ ok: true, step: 0 });
  });

  it.each([-1, 1.5, Number.NaN, '3' as unknown as number])('throws on the last used step %p', (lastUsedStep) => {
    expect(codeOf(() => acceptTotp(codeAt(0), SECRET, NOW, lastUsedStep))).toBe('TOTP.INVALID_OPTION');
  });

  it('throws on a bad time or digit count', () => {
    expect(codeOf(() => acceptTotp(codeAt(0), SECRET, new Date(Number.NaN), null))).toBe('TOTP.INVALID_OPTION');
    expect(codeOf(() => acceptTotp(codeAt(0), SECRET, NOW, null, { digits: 7 as 6 }))).toBe('TOTP.INVALID_OPTION');
  });

  it.each([
    ['lower case', SECRET.toLowerCase()],
    ['padding', `${SECRET}====`],
    ['a character outside base32', `${SECRET.slice(0, -1)}1`],
    ['fewer than 16 bytes', SECRET.slice(0, 24)],
    ['the empty string', ''],
  ])('throws TOTP.INVALID_SECRET on a secret with %s, without quoting it', (_, secret) => {
    for (const run of [() => acceptTotp(codeAt(0), secret, NOW, null), () => generateTotp(secret, NOW)]) {
      try {
        run();
        throw new Error('accepted');
      } catch (error) {
        expect((error as TotpError).code).toBe('TOTP.INVALID_SECRET');
        if (secret.length > 0) expect((error as Error).message).not.toContain(secret);
      }
    }
  });
});
