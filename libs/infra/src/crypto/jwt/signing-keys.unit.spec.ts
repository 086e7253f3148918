import { generateKeyPairSync } from 'node:crypto';
import { NoActiveSigningKeyError, NoSigningKeysError, SigningKeysEnvInvalidError } from './jwt-errors';
import { KeyDirectory } from './key-directory';
import { loadSigningKeys } from './load-signing-keys';
import { activeSigningKey, generateSigningKey, isPublished, publishedSigningKeys, withRetirement, type SigningKey } from './signing-keys';
import { signingKeysFromEnv } from './signing-keys-from-env';
import { at, failureOf, rfc7638Thumbprint, T0, withTemporaryDirectory } from './testing/jwt-test-kit';
import { RETIRED_KEY_RETENTION_SECONDS } from './token-policy';

let base: SigningKey;
beforeAll(async () => {
  base = await generateSigningKey(T0);
});

/** Selection looks at dates and kids only, so one RSA key can stand for many. */
const keyWith = (kid: string, signsFrom: Date, retiredAt?: Date): SigningKey => ({ ...base, kid, createdAt: signsFrom, signsFrom, ...(retiredAt ? { retiredAt } : {}) });

describe('choosing the signing key', () => {
  it('the active key is the newest whose signsFrom has come and which is not retired', () => {
    const old = keyWith('old', T0, at(300));
    const current = keyWith('current', at(300));
    const next = keyWith('next', at(900));
    const keys = [next, current, old];
    expect(activeSigningKey(keys, at(299)).kid).toBe('old');
    expect(activeSigningKey(keys, at(300)).kid).toBe('current');
    expect(activeSigningKey(keys, at(899)).kid).toBe('current');
    expect(activeSigningKey(keys, at(900)).kid).toBe('next');
  });

  it('no key signs when every key is retired or starts later', () => {
    expect(() => activeSigningKey([keyWith('retired', T0, at(10)), keyWith('later', at(100))], at(50))).toThrow(NoActiveSigningKeyError);
    expect(() => activeSigningKey([], T0)).toThrow(/bastion keys rotate/);
  });

  it('a retired key stays published until its retirement plus the token lifetime plus clock tolerance', () => {
    const retired = keyWith('retired', T0, at(300));
    const until = at(300 + RETIRED_KEY_RETENTION_SECONDS);
    expect(RETIRED_KEY_RETENTION_SECONDS).toBe(605);
    expect(isPublished(retired, at(-1, until))).toBe(true);
    expect(isPublished(retired, until)).toBe(false);
  });

  it('a key is published before it signs', () => {
    const next = keyWith('next', at(300));
    expect(publishedSigningKeys([next], T0)).toEqual([next]);
    expect(() => activeSigningKey([next], T0)).toThrow(NoActiveSigningKeyError);
  });

  it('the kid is the RFC 7638 thumbprint of the public key', () => {
    expect(base.kid).toBe(rfc7638Thumbprint(base.publicJwk));
    expect(base.publicJwk.kid).toBe(base.kid);
  });

  it('the thumbprint written out by hand matches the RFC 7638 §3.1 example', () => {
    const n =
      '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw';
    expect(rfc7638Thumbprint({ n, e: 'AQAB' })).toBe('NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
  });
});

describe('keys from JWT_SIGNING_KEYS', () => {
  const pem = (bits = 2048) => generateKeyPairSync('rsa', { modulusLength: bits }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const env = (entries: unknown) => ({ JWT_SIGNING_KEYS: JSON.stringify(entries) });

  it('loads each key with its dates, the kid being its thumbprint', async () => {
    const [a, b] = [pem(), pem()];
    const keys = await signingKeysFromEnv(env([{ privateKeyPem: a, retiredAt: at(300).toISOString() }, { privateKeyPem: b, signsFrom: at(300).toISOString() }]));
    expect(keys).toHaveLength(2);
    expect(keys![0]).toMatchObject({ signsFrom: new Date(0), retiredAt: at(300) });
    expect(keys![1]).toMatchObject({ signsFrom: at(300) });
    expect(activeSigningKey(keys!, at(299)).kid).toBe(keys![0]!.kid);
    expect(activeSigningKey(keys!, at(300)).kid).toBe(keys![1]!.kid);
  });

  it('is not consulted when unset or empty', async () => {
    await expect(signingKeysFromEnv({})).resolves.toBeUndefined();
    await expect(signingKeysFromEnv({ JWT_SIGNING_KEYS: ' ' })).resolves.toBeUndefined();
  });

  it('a kid that is not the thumbprint of its key is refused', async () => {
    await expect(signingKeysFromEnv(env([{ privateKeyPem: pem(), kid: 'the-wrong-key' }]))).rejects.toThrow(/\[0\]\.kid is the-wrong-key, but the thumbprint/);
  });

  it('an RSA key under 2048 bits is refused', async () => {
    await expect(signingKeysFromEnv(env([{ privateKeyPem: pem(1024) }]))).rejects.toThrow(/at least 2048 bits, got 1024/);
  });

  it('a misspelt member is refused rather than ignored', async () => {
    await expect(signingKeysFromEnv(env([{ privateKeyPem: pem(), retired_at: T0.toISOString() }]))).rejects.toThrow(/Unrecognized key.*retired_at/);
  });

  it('invalid JSON is refused without quoting it, since it holds private keys', async () => {
    const secret = pem();
    const failure = await failureOf(signingKeysFromEnv({ JWT_SIGNING_KEYS: `[{"privateKeyPem": ${JSON.stringify(secret)}` }));
    expect(failure).toBeInstanceOf(SigningKeysEnvInvalidError);
    expect(failure.message).toBe('JWT_SIGNING_KEYS is not valid JSON.');
  });

  it('a PEM that is not a private key is refused without quoting it', async () => {
    const failure = await failureOf(signingKeysFromEnv(env([{ privateKeyPem: '-----BEGIN PRIVATE KEY-----\nnot-a-key\n-----END PRIVATE KEY-----\n' }])));
    expect(failure.message).toBe('JWT_SIGNING_KEYS [0].privateKeyPem is not a usable RS256 private key (unreadable PEM).');
  });
});

describe('loading the key set at start-up', () => {
  it('JWT_SIGNING_KEYS wins over the key directory', () =>
    withTemporaryDirectory(async (path) => {
      const privateKeyPem = base.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      const keys = await loadSigningKeys({ now: T0, env: { JWT_SIGNING_KEYS: JSON.stringify([{ privateKeyPem }]) }, directory: new KeyDirectory(path) });
      expect(keys.map((key) => key.kid)).toEqual([base.kid]);
      expect(await new KeyDirectory(path).load()).toEqual([]);
    }));

  it('production never generates a key', () =>
    withTemporaryDirectory(async (path) => {
      await expect(loadSigningKeys({ now: T0, env: { NODE_ENV: 'production' }, directory: new KeyDirectory(path) })).rejects.toBeInstanceOf(NoSigningKeysError);
    }));

  it('development generates a first key', () =>
    withTemporaryDirectory(async (path) => {
      await expect(loadSigningKeys({ now: T0, env: { NODE_ENV: 'development' }, directory: new KeyDirectory(path) })).resolves.toHaveLength(1);
    }));

  it('fails at start-up when no key can sign', () =>
    withTemporaryDirectory(async (path) => {
      const directory = new KeyDirectory(path);
      await directory.write(withRetirement(await generateSigningKey(T0), at(10)));
      await expect(loadSigningKeys({ now: at(20), env: {}, directory })).rejects.toBeInstanceOf(NoActiveSigningKeyError);
    }));
});
