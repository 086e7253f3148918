import { checkPassword, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, type PasswordContext } from './password-policy';

const BLOCKLIST = new Set(['password1234', 'qwertyuiop123', 'iloveyou']);
const context: PasswordContext = {
  email: 'Ada.Lovelace@Example.org',
  displayName: 'Ada Lovelace',
  isCommon: (candidate) => BLOCKLIST.has(candidate),
};
const codes = (password: string, ctx: PasswordContext = context) => checkPassword(password, ctx).map((p) => p.code);

describe('checkPassword', () => {
  it('accepts a long passphrase with no digits, symbols or capitals (no composition rules)', () => {
    expect(checkPassword('correct horse battery staple', context)).toEqual([]);
  });

  it('accepts exactly the minimum and the maximum length', () => {
    expect(codes('x7#kq2!mz9vw')).toEqual([]);
    expect(codes('q'.repeat(PASSWORD_MAX_LENGTH))).toEqual([]);
  });

  it('refuses fewer than 12 characters, with the minimum in the problem', () => {
    expect(checkPassword('x7#kq2!mz9v', context)).toEqual([
      { code: 'PASSWORD.TOO_SHORT', message: 'must be at least 12 characters long', minLength: PASSWORD_MIN_LENGTH },
    ]);
  });

  it('refuses more than 256 characters', () => {
    expect(codes('q'.repeat(PASSWORD_MAX_LENGTH + 1))).toEqual(['PASSWORD.TOO_LONG']);
  });

  it('counts Unicode code points, not UTF-16 units: 12 emoji are long enough, 11 are not', () => {
    expect(codes('🔑'.repeat(12))).toEqual([]);
    expect(codes('🔑'.repeat(11))).toEqual(['PASSWORD.TOO_SHORT']);
  });

  it('counts after NFC, so a decomposed accent is one character', () => {
    const decomposed = 'e\u0301'.repeat(11); // 22 code points before NFC, 11 after
    expect(codes(decomposed)).toEqual(['PASSWORD.TOO_SHORT']);
    expect(codes('e\u0301'.repeat(12))).toEqual([]);
  });

  it('refuses a common password whatever its case', () => {
    expect(codes('Password1234')).toEqual(['PASSWORD.COMMON']);
    expect(codes('QWERTYUIOP123')).toEqual(['PASSWORD.COMMON']);
  });

  it('hands the blocklist the normalised, lower-cased candidate', () => {
    const seen: string[] = [];
    checkPassword('Ame\u0301lie-Is-Here', { ...context, isCommon: (c) => (seen.push(c), false) });
    expect(seen).toEqual(['amélie-is-here']);
  });

  it('reports every broken rule, in a stable order', () => {
    expect(codes('iloveyou')).toEqual(['PASSWORD.TOO_SHORT', 'PASSWORD.COMMON']);
  });

  it.each([
    ['the email', 'ada.lovelace@example.org'],
    ['the email in another case', 'ADA.LOVELACE@EXAMPLE.ORG'],
    ['the email with a suffix', 'ada.lovelace@example.org!'],
    ['the local part with digits', 'ada.lovelace1815'],
    ['the display name', 'Ada Lovelace'],
    ['the display name run together', 'adalovelace-1815'],
  ])('refuses a password containing %s', (_what, password) => {
    expect(codes(password)).toContain('PASSWORD.CONTAINS_IDENTITY');
  });

  it('refuses a short identity only when it is the whole password', () => {
    const shortName: PasswordContext = { ...context, email: 'al@example.org', displayName: 'Al' };
    expect(codes('walnut-orchard-lamp', shortName)).toEqual([]);
    // The whole email is long enough to count as a fragment.
    expect(codes('al@example.org', shortName)).toEqual(['PASSWORD.CONTAINS_IDENTITY']);
  });

  it('does not refuse an unrelated password because the name is empty', () => {
    expect(codes('walnut-orchard-lamp', { ...context, displayName: '   ' })).toEqual([]);
  });

  it('gives every problem a stable code and a message', () => {
    const problems = checkPassword('ada', { ...context, email: 'ada@example.org', isCommon: () => true });
    expect(problems.map((p) => p.code)).toEqual(['PASSWORD.TOO_SHORT', 'PASSWORD.COMMON', 'PASSWORD.CONTAINS_IDENTITY']);
    for (const problem of problems) expect(problem.message).toMatch(/^[a-z]/);
  });
});
