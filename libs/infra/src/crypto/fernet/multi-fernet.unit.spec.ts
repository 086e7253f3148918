import { fernetDecrypt } from './fernet-decrypt';
import { fernetEncrypt } from './fernet-encrypt';
import { FernetError, type FernetErrorCode } from './fernet-errors';
import { fernetExtractTimestamp } from './fernet-extract-timestamp';
import { FernetKey } from './fernet-key';
import { MultiFernet } from './multi-fernet';

const T = new Date('2030-01-01T00:00:00Z');
const at = (seconds: number): (() => Date) => () => new Date(T.getTime() + seconds * 1000);

function codeOf(run: () => unknown): FernetErrorCode {
  try {
    run();
  } catch (error) {
    if (error instanceof FernetError) return error.code;
    throw error;
  }
  throw new Error('no error was thrown');
}

describe('MultiFernet', () => {
  const newer = FernetKey.generate();
  const older = FernetKey.generate();

  it('encrypts with the first key only', () => {
    const token = new MultiFernet([newer, older]).encrypt('secret');
    expect(fernetDecrypt(newer, token).toString()).toBe('secret');
    expect(codeOf(() => fernetDecrypt(older, token))).toBe('FERNET.INVALID_TOKEN');
  });

  it('decrypts with every listed key, and with no other', () => {
    const fernet = new MultiFernet([newer, older]);
    expect(fernet.decrypt(fernetEncrypt(older, 'old')).toString()).toBe('old');
    expect(fernet.decrypt(fernetEncrypt(newer, 'new')).toString()).toBe('new');
    expect(codeOf(() => fernet.decrypt(fernetEncrypt(FernetKey.generate(), 'x')))).toBe('FERNET.INVALID_TOKEN');
  });

  it('applies the ttl against its clock', () => {
    const token = fernetEncrypt(older, 'x', { clock: at(0) });
    expect(new MultiFernet([newer, older], { clock: at(60) }).decrypt(token, { ttlSeconds: 60 }).toString()).toBe('x');
    expect(codeOf(() => new MultiFernet([newer, older], { clock: at(61) }).decrypt(token, { ttlSeconds: 60 }))).toBe(
      'FERNET.TOKEN_EXPIRED',
    );
    expect(codeOf(() => new MultiFernet([newer]).decrypt(token, { ttlSeconds: -5 }))).toBe('FERNET.INVALID_OPTION');
  });

  it('rotates a token to the first key, keeping its timestamp and plaintext, with a fresh IV', () => {
    const original = fernetEncrypt(older, 'totp secret', { clock: at(0) });
    const fernet = new MultiFernet([newer, older], { clock: at(86_400) });
    const rotated = fernet.rotate(original);

    expect(fernetDecrypt(newer, rotated).toString()).toBe('totp secret');
    expect(codeOf(() => fernetDecrypt(older, rotated))).toBe('FERNET.INVALID_TOKEN');
    expect(fernetExtractTimestamp(newer, rotated)).toEqual(T);
    expect(fernet.rotate(original)).not.toBe(rotated);
    // Rotation changes the key, not the age: a ttl still measures from the original time.
    expect(codeOf(() => fernet.decrypt(rotated, { ttlSeconds: 3600 }))).toBe('FERNET.TOKEN_EXPIRED');
  });

  it('rotates a token already under the first key, and ignores any ttl while rotating', () => {
    const ancient = fernetEncrypt(newer, 'x', { clock: at(-10 * 365 * 86_400) });
    const rotated = new MultiFernet([newer]).rotate(ancient);
    expect(rotated).not.toBe(ancient);
    expect(fernetExtractTimestamp(newer, rotated)).toEqual(fernetExtractTimestamp(newer, ancient));
  });

  it('refuses to rotate a token none of its keys signed', () => {
    expect(codeOf(() => new MultiFernet([newer]).rotate(fernetEncrypt(older, 'x')))).toBe('FERNET.INVALID_TOKEN');
  });

  it('needs at least one key, every one a FernetKey, and keeps its own copy of the list', () => {
    expect(codeOf(() => new MultiFernet([]))).toBe('FERNET.INVALID_OPTION');
    expect(codeOf(() => new MultiFernet(['not a key' as unknown as FernetKey]))).toBe('FERNET.INVALID_KEY');
    const keys = [newer, older];
    const fernet = new MultiFernet(keys);
    keys.reverse();
    expect(fernetDecrypt(newer, fernet.encrypt('x')).toString()).toBe('x');
  });
});
