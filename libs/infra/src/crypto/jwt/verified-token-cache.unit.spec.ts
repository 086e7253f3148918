import { randomUUID } from 'node:crypto';
import { AccessTokenInvalidError } from './jwt-errors';
import { signAccessToken } from './sign-access-token';
import { generateSigningKey, SigningKeyRing, type SigningKey } from './signing-keys';
import { at, AUDIENCE, ISSUER, T0, TestClock } from './testing/jwt-test-kit';
import { VerifiedTokenCache } from './verified-token-cache';
import { AccessTokenVerifier } from './verify-access-token';

let key: SigningKey;
beforeAll(async () => {
  key = await generateSigningKey(T0);
});

const human = () => ({ subjectType: 'human' as const, subject: randomUUID(), sessionId: randomUUID(), amr: ['pwd'] });
const sign = (now = T0) => signAccessToken([key], human(), now, { issuer: ISSUER, audience: AUDIENCE });

function setUp(cacheSize = 10_000) {
  const clock = new TestClock(T0);
  const ring = new SigningKeyRing([key]);
  const verifier = new AccessTokenVerifier({ keys: ring, issuer: ISSUER, audience: AUDIENCE, clock: clock.now, cacheSize });
  return { clock, ring, verifier };
}

describe('the cache of verified access tokens', () => {
  it('answers a repeated token from the cache, without verifying its signature again', async () => {
    const { ring, verifier } = setUp();
    const { token } = await sign();
    const first = await verifier.verify(token);
    expect(verifier.cachedTokens).toBe(1);
    // Same kid, different public key: only a cache hit can still accept the token.
    const impostor = await generateSigningKey(T0);
    ring.replace([{ ...impostor, kid: key.kid }]);
    expect(await verifier.verify(token)).toEqual(first);
    await expect(new AccessTokenVerifier({ keys: ring, issuer: ISSUER, audience: AUDIENCE, clock: () => T0 }).verify(token)).rejects.toMatchObject({
      code: 'JWT.SIGNATURE',
    });
  });

  it('a cached token stops verifying once its exp passes', async () => {
    const { clock, verifier } = setUp();
    const { token, expiresAt } = await sign();
    await verifier.verify(token);

    clock.set(at(-1, expiresAt));
    await expect(verifier.verify(token)).resolves.toMatchObject({ expiresAt });

    // Inside the clock tolerance the token is still accepted, but as if there were no cache: the entry is gone.
    clock.set(at(1, expiresAt));
    await expect(verifier.verify(token)).resolves.toMatchObject({ expiresAt });
    expect(verifier.cachedTokens).toBe(0);

    clock.set(at(6, expiresAt));
    await expect(verifier.verify(token)).rejects.toMatchObject({ code: 'JWT.EXPIRED' });
  });

  it('the cache never grows past its bound', async () => {
    const { verifier } = setUp(3);
    for (let i = 0; i < 10; i += 1) {
      await verifier.verify((await sign()).token);
      expect(verifier.cachedTokens).toBeLessThanOrEqual(3);
    }
    expect(verifier.cachedTokens).toBe(3);
  });

  it('a key removed from the set takes its cached tokens with it', async () => {
    const { ring, verifier } = setUp();
    const { token } = await sign();
    await verifier.verify(token);
    ring.replace([await generateSigningKey(T0)]);
    await expect(verifier.verify(token)).rejects.toMatchObject({ code: 'JWT.KID_UNKNOWN' });
    expect(verifier.cachedTokens).toBe(0);
  });

  it('a caller cannot change the principal the next caller gets', async () => {
    const { verifier } = setUp();
    const { token, expiresAt } = await sign();
    const first = await verifier.verify(token);
    first.expiresAt.setTime(0);
    expect(() => (first.amr as string[]).push('mfa')).toThrow(TypeError);
    expect((await verifier.verify(token)).expiresAt).toEqual(expiresAt);
  });

  it('a refused token is not cached', async () => {
    const { verifier } = setUp();
    const { token } = await sign(at(60));
    await expect(verifier.verify(token)).rejects.toBeInstanceOf(AccessTokenInvalidError);
    expect(verifier.cachedTokens).toBe(0);
  });

  it('size 0 turns the cache off', async () => {
    const { verifier } = setUp(0);
    await verifier.verify((await sign()).token);
    expect(verifier.cachedTokens).toBe(0);
  });
});

describe('VerifiedTokenCache', () => {
  const entry = (expiresAtMs: number) => ({ value: 'principal', kid: 'k', expiresAtMs });

  it('evicts the oldest entry at its bound', () => {
    const cache = new VerifiedTokenCache<string>(3);
    for (const name of ['a', 'b', 'c', 'd']) cache.set(name, entry(10_000), 0);
    expect(cache.size).toBe(3);
    expect(cache.get('a', 0)).toBeUndefined();
    expect(['b', 'c', 'd'].map((name) => cache.get(name, 0)?.value)).toEqual(['principal', 'principal', 'principal']);
  });

  it('never hands out an entry at or after its expiry, and forgets it', () => {
    const cache = new VerifiedTokenCache<string>(3);
    cache.set('a', entry(1000), 0);
    expect(cache.get('a', 999)).toBeDefined();
    expect(cache.get('a', 1000)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('does not store an entry that has already expired', () => {
    const cache = new VerifiedTokenCache<string>(3);
    cache.set('a', entry(1000), 1000);
    expect(cache.size).toBe(0);
  });
});
