import { fernetDecrypt } from './fernet-decrypt';
import { fernetEncryptWithFixedIv } from './fernet-encrypt';
import { FernetError, type FernetErrorCode } from './fernet-errors';
import { FernetKey } from './fernet-key';
import { clockAt, loadGenerateVectors, loadInvalidVectors, loadVerifyVectors } from './testing/fernet-spec-vectors';

const generate = loadGenerateVectors();
const verify = loadVerifyVectors();
const invalid = loadInvalidVectors();

/** The two time rules have codes of their own; every other spec failure is a plain invalid token. */
const EXPECTED_CODE: Readonly<Record<string, FernetErrorCode>> = {
  'expired TTL': 'FERNET.TOKEN_EXPIRED',
  'far-future TS (unacceptable clock skew)': 'FERNET.TOKEN_FROM_FUTURE',
};

function refusal(run: () => unknown): FernetError {
  try {
    run();
  } catch (error) {
    if (error instanceof FernetError) return error;
    throw error;
  }
  throw new Error('the token was accepted');
}

describe('the Fernet spec vectors', () => {
  it.each(generate.map((v) => [v.src, v] as const))('generate: reproduces the token for %j byte for byte', (_, vector) => {
    const token = fernetEncryptWithFixedIv(FernetKey.parse(vector.secret), vector.src, {
      iv: Uint8Array.from(vector.iv),
      issuedAt: new Date(vector.now),
    });
    expect(token).toBe(vector.token);
  });

  it.each(verify.map((v) => [v.src, v] as const))('verify: decrypts the token for %j at its time within its ttl', (_, vector) => {
    const plaintext = fernetDecrypt(FernetKey.parse(vector.secret), vector.token, {
      ttlSeconds: vector.ttl_sec,
      clock: clockAt(vector.now),
    });
    expect(plaintext.toString('utf8')).toBe(vector.src);
  });

  it.each(invalid.map((v) => [v.desc, v] as const))('invalid: refuses the token with %s', (desc, vector) => {
    const error = refusal(() =>
      fernetDecrypt(FernetKey.parse(vector.secret), vector.token, { ttlSeconds: vector.ttl_sec, clock: clockAt(vector.now) }),
    );
    expect(error.code).toBe(EXPECTED_CODE[desc] ?? 'FERNET.INVALID_TOKEN');
    expect(error.message).not.toContain(vector.token);
    expect(error.message).not.toContain(vector.secret);
  });

  it('the verify tokens decrypt without a ttl at any time: the ttl is off by default', () => {
    for (const vector of verify) {
      const key = FernetKey.parse(vector.secret);
      expect(fernetDecrypt(key, vector.token, { clock: clockAt('2100-01-01T00:00:00Z') }).toString()).toBe(vector.src);
      expect(fernetDecrypt(key, vector.token).toString()).toBe(vector.src);
    }
  });

  it('the time-rule vectors are authentic and decrypt without a ttl, as in the reference implementation', () => {
    for (const vector of invalid.filter((v) => EXPECTED_CODE[v.desc] !== undefined)) {
      expect(() => fernetDecrypt(FernetKey.parse(vector.secret), vector.token, { clock: clockAt(vector.now) })).not.toThrow();
    }
  });

  it('the other invalid vectors stay invalid without a ttl', () => {
    for (const vector of invalid.filter((v) => EXPECTED_CODE[v.desc] === undefined)) {
      expect(refusal(() => fernetDecrypt(FernetKey.parse(vector.secret), vector.token)).code).toBe('FERNET.INVALID_TOKEN');
    }
  });
});
