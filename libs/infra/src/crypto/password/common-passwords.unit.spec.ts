import { checkPassword } from '@bastion/domain/identity/password-policy';
import { randomBytes } from 'node:crypto';
import { isCommonPassword, loadCommonPasswords } from './common-passwords';

describe('isCommonPassword', () => {
  it('loads the pinned list once, at the size the pinned package gives', () => {
    const list = loadCommonPasswords();
    expect(list.size).toBe(139_974);
    expect(loadCommonPasswords()).toBe(list);
  });

  it.each(['password123', 'qwertyuiop', '1234567890', '123456', 'iloveyou'])('knows %s', (candidate) => {
    expect(isCommonPassword(candidate)).toBe(true);
  });

  it.each(['1q2w3e4r5t6y', 'qwerty123456', '123456789012', 'passwordpassword'])(
    'knows %s, a common password long enough for the length rule',
    (candidate) => {
      expect(isCommonPassword(candidate)).toBe(true);
    },
  );

  it('ignores case and surrounding whitespace', () => {
    expect(isCommonPassword('PassWord123')).toBe(true);
    expect(isCommonPassword(' QWERTYUIOP ')).toBe(true);
  });

  it('does not know a random strong string', () => {
    expect(isCommonPassword(randomBytes(18).toString('base64url'))).toBe(false);
  });

  it('does not know the empty string', () => {
    expect(isCommonPassword('')).toBe(false);
  });

  it('backs the policy: a common 12-character password is refused, a passphrase is not', () => {
    const context = { email: 'ada@example.org', displayName: 'Ada', isCommon: isCommonPassword };
    expect(checkPassword('Qwerty123456', context).map((p) => p.code)).toEqual(['PASSWORD.COMMON']);
    expect(checkPassword('walnut orchard lamp quietly', context)).toEqual([]);
  });
});
