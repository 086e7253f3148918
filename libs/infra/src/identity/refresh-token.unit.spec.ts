import { randomBytes, randomUUID } from 'node:crypto';
import { decodeRefreshToken, encodeRefreshToken } from './refresh-token';

const key = randomBytes(32);

describe('refresh tokens', () => {
  it('round-trip their session and counter', () => {
    const sessionId = randomUUID();
    expect(decodeRefreshToken(key, encodeRefreshToken(key, { sessionId, counter: 7 }))).toEqual({ sessionId, counter: 7 });
  });

  it('are deterministic, so the same successor can be handed out twice', () => {
    const sessionId = randomUUID();
    expect(encodeRefreshToken(key, { sessionId, counter: 3 })).toBe(encodeRefreshToken(key, { sessionId, counter: 3 }));
  });

  it('refuse a changed counter, session, MAC or key', () => {
    const sessionId = randomUUID();
    const token = encodeRefreshToken(key, { sessionId, counter: 3 });
    const [sid, , m] = token.split('.');
    expect(decodeRefreshToken(key, `${sid}.4.${m}`)).toBeNull();
    expect(decodeRefreshToken(key, `${randomUUID()}.3.${m}`)).toBeNull();
    expect(decodeRefreshToken(key, `${sid}.3.${m!.slice(0, -2)}AA`)).toBeNull();
    expect(decodeRefreshToken(randomBytes(32), token)).toBeNull();
  });

  it.each(['', 'a.b.c', 'x.1.y.z', `${randomUUID()}.-1.abc`, `${randomUUID()}.01.abc`, 'A'.repeat(500)])('refuse the malformed %j', (t) => {
    expect(decodeRefreshToken(key, t)).toBeNull();
  });
});
