import { createHmac, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { fernetDecrypt } from './fernet-decrypt';
import { fernetEncrypt, fernetEncryptWithFixedIv } from './fernet-encrypt';
import { FernetError, type FernetErrorCode } from './fernet-errors';
import { fernetExtractTimestamp } from './fernet-extract-timestamp';
import { FernetKey, generateFernetKey } from './fernet-key';

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

const b64 = (bytes: Buffer): string => bytes.toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
const unb64 = (token: string): Buffer => Buffer.from(token, 'base64url');

/** Re-signs hand-edited token bytes, so a test reaches the checks that come after the HMAC. */
function resign(key: FernetKey, bytes: Buffer): string {
  const signed = bytes.subarray(0, bytes.length - 32);
  return b64(Buffer.concat([signed, createHmac('sha256', key.signingKey).update(signed).digest()]));
}

describe('Fernet keys', () => {
  it('generate 32 random bytes in URL-safe base64 with padding, as Python does', () => {
    const encoded = generateFernetKey();
    expect(encoded).toMatch(/^[A-Za-z0-9_-]{43}=$/);
    expect(FernetKey.parse(encoded).exportSecret()).toBe(encoded);
    expect(generateFernetKey()).not.toBe(encoded);
  });

  it('split into a signing key (first 16 bytes) and an encryption key (last 16)', () => {
    const raw = randomBytes(32);
    const key = new FernetKey(raw);
    expect(key.signingKey).toEqual(raw.subarray(0, 16));
    expect(key.encryptionKey).toEqual(raw.subarray(16));
    raw.fill(0);
    expect(key.signingKey).not.toEqual(Buffer.alloc(16));
  });

  it.each([
    ['31 bytes', b64(randomBytes(31))],
    ['33 bytes', b64(randomBytes(33))],
    ['no padding', b64(randomBytes(32)).slice(0, -1)],
    ['standard base64', '+/' + b64(randomBytes(32)).slice(2)],
    ['a stray character', '*' + b64(randomBytes(32)).slice(1)],
    ['empty', ''],
  ])('refuse a key with %s', (_, encoded) => {
    expect(codeOf(() => FernetKey.parse(encoded))).toBe('FERNET.INVALID_KEY');
  });

  it('refuse raw keys of another length', () => {
    expect(codeOf(() => new FernetKey(randomBytes(16)))).toBe('FERNET.INVALID_KEY');
  });

  it('never show their bytes to a log, JSON or a template string', () => {
    const key = FernetKey.generate();
    const secret = key.exportSecret();
    for (const shown of [inspect(key), inspect({ nested: { key } }), JSON.stringify({ key }), `${key}`, String(key)]) {
      expect(shown).toContain('[FernetKey]');
      expect(shown).not.toContain(secret);
      expect(shown).not.toContain(key.signingKey.toString('hex'));
    }
  });
});

describe('fernetEncrypt and fernetDecrypt', () => {
  const key = FernetKey.generate();

  it.each([
    ['a UTF-8 string', 'JBSWY3DPEHPK3PXP user:0190b7d3 – ünïcødé ✓'],
    ['the empty string', ''],
    ['exactly one block', 'x'.repeat(16)],
    ['binary data', randomBytes(1000)],
  ])('round-trip %s', (_, plaintext) => {
    const token = fernetEncrypt(key, plaintext);
    expect(fernetDecrypt(key, token)).toEqual(Buffer.from(plaintext));
  });

  it('use a fresh IV for every token', () => {
    const tokens = new Set(Array.from({ length: 50 }, () => fernetEncrypt(key, 'same', { clock: at(0) })));
    expect(tokens.size).toBe(50);
  });

  it('stamp the injected clock in whole seconds, rounded down', () => {
    const token = fernetEncrypt(key, 'x', { clock: at(0.999) });
    expect(fernetExtractTimestamp(key, token)).toEqual(T);
    expect(unb64(token).readBigUInt64BE(1)).toBe(BigInt(T.getTime() / 1000));
    expect(unb64(token)[0]).toBe(0x80);
  });

  it('refuse a token made with another key, without saying more', () => {
    const error = (() => {
      try {
        fernetDecrypt(FernetKey.generate(), fernetEncrypt(key, 'secret'));
      } catch (caught) {
        return caught as FernetError;
      }
      throw new Error('accepted');
    })();
    expect(error.code).toBe('FERNET.INVALID_TOKEN');
    expect(error.message).toBe('FERNET.INVALID_TOKEN: signature mismatch');
  });

  it('refuse a token with any single bit flipped: version, time, IV, ciphertext or HMAC', () => {
    const bytes = unb64(fernetEncrypt(key, 'a secret of two blocks, or more'));
    for (let index = 0; index < bytes.length; index += 1) {
      const tampered = Buffer.from(bytes);
      tampered[index]! ^= 0x01;
      expect(codeOf(() => fernetDecrypt(key, b64(tampered)))).toBe('FERNET.INVALID_TOKEN');
    }
  });

  it('refuse a token that is not in canonical URL-safe base64 with padding', () => {
    const token = fernetEncrypt(key, 'x');
    expect(token).toMatch(/[^=]==$/);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = token.length - 3;
    // The same bytes with non-zero trailing bits: Node's decoder alone accepts it.
    const trailingBits = token.slice(0, last) + alphabet[alphabet.indexOf(token[last]!) | 1] + '==';
    expect(unb64(trailingBits)).toEqual(unb64(token));
    const variants = [
      token.replace(/=+$/, ''),
      token.replace(/=+$/, '='),
      `+/${token.slice(2)}`,
      ` ${token}`,
      `${token}\n`,
      `${token.slice(0, 10)}.${token.slice(11)}`,
      trailingBits,
    ];
    for (const variant of variants) expect(codeOf(() => fernetDecrypt(key, variant))).toBe('FERNET.INVALID_TOKEN');
  });

  it('refuse an authentic token of another version, or with a timestamp past 2^53', () => {
    const bytes = unb64(fernetEncrypt(key, 'x'));
    const otherVersion = Buffer.from(bytes);
    otherVersion[0] = 0x81;
    expect(() => fernetDecrypt(key, resign(key, otherVersion))).toThrow('unknown version');
    const farOff = Buffer.from(bytes);
    farOff.writeBigUInt64BE(2n ** 63n, 1);
    expect(() => fernetDecrypt(key, resign(key, farOff))).toThrow('timestamp out of range');
  });

  it('refuse non-string tokens', () => {
    expect(codeOf(() => fernetDecrypt(key, undefined as unknown as string))).toBe('FERNET.INVALID_TOKEN');
  });

  describe('with a ttl', () => {
    const token = fernetEncrypt(key, 'x', { clock: at(0) });

    it('accept a token up to exactly ttl seconds old, and refuse it one second later', () => {
      expect(fernetDecrypt(key, token, { ttlSeconds: 60, clock: at(60.999) }).toString()).toBe('x');
      expect(codeOf(() => fernetDecrypt(key, token, { ttlSeconds: 60, clock: at(61) }))).toBe('FERNET.TOKEN_EXPIRED');
    });

    it('accept a token up to 60 s in the future (clock skew), and refuse it beyond', () => {
      expect(fernetDecrypt(key, token, { ttlSeconds: 3600, clock: at(-60) }).toString()).toBe('x');
      expect(codeOf(() => fernetDecrypt(key, token, { ttlSeconds: 3600, clock: at(-61) }))).toBe('FERNET.TOKEN_FROM_FUTURE');
    });

    it('check the HMAC before the time, so a forged old token is invalid rather than expired', () => {
      expect(codeOf(() => fernetDecrypt(FernetKey.generate(), token, { ttlSeconds: 60, clock: at(1e6) }))).toBe('FERNET.INVALID_TOKEN');
    });

    it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('refuse the ttl %p', (ttlSeconds) => {
      expect(codeOf(() => fernetDecrypt(key, token, { ttlSeconds }))).toBe('FERNET.INVALID_OPTION');
    });
  });

  it('without a ttl, accept a token of any age or from the future (the stored-secret use)', () => {
    const token = fernetEncrypt(key, 'x', { clock: at(0) });
    expect(fernetDecrypt(key, token, { clock: at(10 * 365 * 86_400) }).toString()).toBe('x');
    expect(fernetDecrypt(key, token, { clock: at(-86_400) }).toString()).toBe('x');
  });

  it('refuse a time before 1970 and a fixed IV of another length', () => {
    expect(codeOf(() => fernetEncrypt(key, 'x', { clock: () => new Date(-1000) }))).toBe('FERNET.INVALID_OPTION');
    expect(codeOf(() => fernetEncrypt(key, 'x', { clock: () => new Date(Number.NaN) }))).toBe('FERNET.INVALID_OPTION');
    expect(codeOf(() => fernetEncryptWithFixedIv(key, 'x', { iv: randomBytes(12), issuedAt: T }))).toBe('FERNET.INVALID_OPTION');
  });
});

describe('fernetExtractTimestamp', () => {
  it('reads the stamp of an authentic token only', () => {
    const key = FernetKey.generate();
    const token = fernetEncrypt(key, 'x', { clock: at(42) });
    expect(fernetExtractTimestamp(key, token)).toEqual(at(42)());
    expect(codeOf(() => fernetExtractTimestamp(FernetKey.generate(), token))).toBe('FERNET.INVALID_TOKEN');
  });
});
