import { randomUUID } from 'node:crypto';
import { TokenSigningRefusedError } from './jwt-errors';
import { signAccessToken } from './sign-access-token';
import { signTypedToken } from './sign-typed-token';
import { generateSigningKey, type SigningKey } from './signing-keys';
import { at, AUDIENCE, decodeSegment, ISSUER, T0 } from './testing/jwt-test-kit';

let key: SigningKey;
beforeAll(async () => {
  key = await generateSigningKey(T0);
});

const options = { issuer: ISSUER, audience: AUDIENCE };
const iat = T0.getTime() / 1000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('signing an access token', () => {
  it('has the header {alg: RS256, kid, typ: at+jwt} and exactly the claims of DESIGN §5', async () => {
    const claims = { subjectType: 'human' as const, subject: randomUUID(), sessionId: randomUUID(), amr: ['pwd', 'otp'] };
    const signed = await signAccessToken([key], claims, T0, options);
    expect(decodeSegment(signed.token, 0)).toEqual({ alg: 'RS256', kid: key.kid, typ: 'at+jwt' });
    expect(decodeSegment(signed.token, 1)).toEqual({
      iss: ISSUER,
      aud: AUDIENCE,
      sub: claims.subject,
      sub_type: 'human',
      sid: claims.sessionId,
      amr: ['pwd', 'otp'],
      jti: signed.jti,
      iat,
      exp: iat + 600,
    });
    expect(signed).toEqual({ token: expect.any(String), jti: expect.stringMatching(UUID), expiresIn: 600, expiresAt: at(600) });
  });

  it('an agent token is bound to its org', async () => {
    const orgId = randomUUID();
    const { token } = await signAccessToken([key], { subjectType: 'agent', subject: randomUUID(), sessionId: randomUUID(), amr: ['agent_key'], orgId }, T0, options);
    expect(decodeSegment(token, 1)).toMatchObject({ sub_type: 'agent', org: orgId });
  });

  it('a human token is not bound to an org, even when a caller outside the type system passes one', async () => {
    const human = { subjectType: 'human' as const, subject: randomUUID(), sessionId: randomUUID(), amr: ['pwd'] };
    expect(decodeSegment((await signAccessToken([key], human, T0, options)).token, 1)).not.toHaveProperty('org');
    await expect(signAccessToken([key], { ...human, orgId: randomUUID() } as typeof human, T0, options)).rejects.toBeInstanceOf(TokenSigningRefusedError);
  });

  it('a token the verifier would refuse is never signed', async () => {
    const base = { subjectType: 'human' as const, subject: randomUUID(), sessionId: randomUUID(), amr: ['pwd'] };
    for (const claims of [{ ...base, subject: 'root' }, { ...base, sessionId: '' }, { ...base, amr: [] }]) {
      await expect(signAccessToken([key], claims, T0, options)).rejects.toMatchObject({ code: 'JWT.SIGNING_REFUSED' });
    }
  });

  it('a token never lives longer than 600 seconds', async () => {
    const claims = { subjectType: 'human' as const, subject: randomUUID(), sessionId: randomUUID(), amr: ['pwd'] };
    await expect(signAccessToken([key], claims, T0, { ...options, expiresInSeconds: 601 })).rejects.toBeInstanceOf(TokenSigningRefusedError);
    await expect(signAccessToken([key], claims, T0, { ...options, expiresInSeconds: 60 })).resolves.toMatchObject({ expiresIn: 60, expiresAt: at(60) });
  });

  it('each token has its own jti', async () => {
    const claims = { subjectType: 'human' as const, subject: randomUUID(), sessionId: randomUUID(), amr: ['pwd'] };
    const [a, b] = await Promise.all([signAccessToken([key], claims, T0, options), signAccessToken([key], claims, T0, options)]);
    expect(a.jti).not.toBe(b.jti);
  });
});

describe('signing a token of another type', () => {
  const mfa = { typ: 'mfa-challenge+jwt', issuer: ISSUER, audience: AUDIENCE, expiresInSeconds: 300 };

  it('an MFA challenge carries its own typ and lives 5 minutes', async () => {
    const subject = randomUUID();
    const signed = await signTypedToken([key], { sid: randomUUID() }, T0, { ...mfa, subject });
    expect(decodeSegment(signed.token, 0)).toEqual({ alg: 'RS256', kid: key.kid, typ: 'mfa-challenge+jwt' });
    expect(decodeSegment(signed.token, 1)).toMatchObject({ iss: ISSUER, aud: AUDIENCE, sub: subject, iat, exp: iat + 300, jti: signed.jti });
    expect(signed.expiresAt).toEqual(at(300));
  });

  it.each(['at+jwt', 'AT+JWT', 'application/at+jwt', 'JWT', 'jwt', ''])('no other token can be made to pass as an access token (typ %p)', async (typ) => {
    await expect(signTypedToken([key], {}, T0, { ...mfa, typ })).rejects.toBeInstanceOf(TokenSigningRefusedError);
  });

  it.each(['iss', 'aud', 'sub', 'exp', 'nbf', 'iat', 'jti'])('the registered claim %s is set by the token service only', async (claim) => {
    await expect(signTypedToken([key], { [claim]: 'x' }, T0, mfa)).rejects.toThrow(`Claims ${claim} are set by the token service.`);
  });
});
