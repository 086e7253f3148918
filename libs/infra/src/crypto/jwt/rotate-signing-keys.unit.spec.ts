import { randomUUID } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { publicJwks } from './jwks';
import { KeyDirectory } from './key-directory';
import { rotateSigningKeys } from './rotate-signing-keys';
import { signAccessToken } from './sign-access-token';
import { activeSigningKey, SigningKeyRing } from './signing-keys';
import { at, AUDIENCE, decodeSegment, ISSUER, T0, TestClock, withTemporaryDirectory } from './testing/jwt-test-kit';
import { AccessTokenVerifier } from './verify-access-token';

const human = () => ({ subjectType: 'human' as const, subject: randomUUID(), sessionId: randomUUID(), amr: ['pwd'] });
const kidOf = (token: string) => decodeSegment(token, 0).kid;

describe('key rotation', () => {
  it('the new key is in the JWKS before it signs', () =>
    withTemporaryDirectory(async (path) => {
      const directory = new KeyDirectory(path);
      const [previous] = await directory.loadOrGenerate(T0);

      const summary = await rotateSigningKeys(directory, at(100));
      expect(summary).toEqual({ added: [expect.any(String)], signsFrom: at(400), retired: [previous!.kid], removed: [] });
      const [next] = summary.added;

      const keys = await directory.load();
      expect(publicJwks(keys, at(100)).keys.map((jwk) => jwk.kid)).toEqual([next, previous!.kid]);
      expect(activeSigningKey(keys, at(399)).kid).toBe(previous!.kid);
      expect(activeSigningKey(keys, at(400)).kid).toBe(next);
    }));

  it('tokens signed by the previous key still verify until they expire', () =>
    withTemporaryDirectory(async (path) => {
      const directory = new KeyDirectory(path);
      const [previous] = await directory.loadOrGenerate(T0);
      await rotateSigningKeys(directory, at(100));
      const ring = new SigningKeyRing(await directory.load());
      const clock = new TestClock();
      const verifier = new AccessTokenVerifier({ keys: ring, issuer: ISSUER, audience: AUDIENCE, clock: clock.now, cacheSize: 0 });

      // The last token the previous key signs, one second before the hand-over.
      const last = await signAccessToken(ring.signingKeys(), human(), at(399), { issuer: ISSUER, audience: AUDIENCE });
      expect(kidOf(last.token)).toBe(previous!.kid);
      const first = await signAccessToken(ring.signingKeys(), human(), at(400), { issuer: ISSUER, audience: AUDIENCE });
      expect(kidOf(first.token)).not.toBe(previous!.kid);

      clock.set(at(-1, last.expiresAt));
      await expect(verifier.verify(last.token)).resolves.toMatchObject({ jti: last.jti });
      await expect(verifier.verify(first.token)).resolves.toMatchObject({ jti: first.jti });
      clock.set(at(5, last.expiresAt));
      await expect(verifier.verify(last.token)).rejects.toMatchObject({ code: 'JWT.EXPIRED' });
    }));

  it('a key removed from the set makes its tokens fail with JWT.KID_UNKNOWN', () =>
    withTemporaryDirectory(async (path) => {
      const directory = new KeyDirectory(path);
      const [previous] = await directory.loadOrGenerate(T0);
      const token = (await signAccessToken([previous!], human(), at(50), { issuer: ISSUER, audience: AUDIENCE })).token;
      await rotateSigningKeys(directory, at(100));

      // Retired at 400; published until 400 + 600 + 5. The next rotation after that deletes its file.
      const summary = await rotateSigningKeys(directory, at(1005));
      expect(summary.removed).toEqual([previous!.kid]);
      expect(await readdir(path)).not.toContain(`${previous!.kid}.json`);

      const ring = new SigningKeyRing(await directory.load());
      const verifier = new AccessTokenVerifier({ keys: ring, issuer: ISSUER, audience: AUDIENCE, clock: () => at(1005) });
      await expect(verifier.verify(token)).rejects.toMatchObject({ code: 'JWT.KID_UNKNOWN' });
      expect(publicJwks(ring.signingKeys(), at(1005)).keys.map((jwk) => jwk.kid)).not.toContain(previous!.kid);
    }));

  it('a key past its retention is refused even before its file is deleted', () =>
    withTemporaryDirectory(async (path) => {
      const directory = new KeyDirectory(path);
      const [previous] = await directory.loadOrGenerate(T0);
      await rotateSigningKeys(directory, at(100));
      const token = (await signAccessToken([previous!], human(), at(399), { issuer: ISSUER, audience: AUDIENCE })).token;
      const keys = await directory.load();
      const verifyAt = (seconds: number) =>
        new AccessTokenVerifier({ keys: new SigningKeyRing(keys), issuer: ISSUER, audience: AUDIENCE, clock: () => at(seconds) }).verify(token);
      await expect(verifyAt(1004)).rejects.toMatchObject({ code: 'JWT.EXPIRED' });
      await expect(verifyAt(1005)).rejects.toMatchObject({ code: 'JWT.KID_UNKNOWN' });
    }));

  it('rotating again within the lead supersedes the key that was waiting', () =>
    withTemporaryDirectory(async (path) => {
      const directory = new KeyDirectory(path);
      const [first] = await directory.loadOrGenerate(T0);
      const { added: [waiting] } = await rotateSigningKeys(directory, at(100));
      const second = await rotateSigningKeys(directory, at(110));
      expect(second.signsFrom).toEqual(at(410));
      // The first key keeps its earlier hand-over; the waiting one is retired at the new hand-over.
      expect(second.retired).toEqual([waiting]);
      const keys = await directory.load();
      expect(keys.find((key) => key.kid === first!.kid)?.retiredAt).toEqual(at(400));
      expect(activeSigningKey(keys, at(405)).kid).toBe(waiting);
      expect(activeSigningKey(keys, at(410)).kid).toBe(second.added[0]);
    }));

  it('rotating a directory with no key that can sign makes a key that signs at once', () =>
    withTemporaryDirectory(async (path) => {
      const summary = await rotateSigningKeys(new KeyDirectory(path), T0);
      expect(summary).toMatchObject({ signsFrom: T0, retired: [], removed: [] });
      expect(activeSigningKey(await new KeyDirectory(path).load(), T0).kid).toBe(summary.added[0]);
    }));

  it('the publish lead is configurable and never negative', () =>
    withTemporaryDirectory(async (path) => {
      const directory = new KeyDirectory(path);
      await directory.loadOrGenerate(T0);
      await expect(rotateSigningKeys(directory, T0, { publishLeadSeconds: -1 })).rejects.toThrow(RangeError);
      await expect(rotateSigningKeys(directory, T0, { publishLeadSeconds: 3600 })).resolves.toMatchObject({ signsFrom: at(3600) });
    }));
});
