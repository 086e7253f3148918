import { createPublicKey, randomUUID, type JsonWebKey } from 'node:crypto';
import { verify, type JwtPayload } from 'jsonwebtoken';
import { publicJwks } from './jwks';
import { signAccessToken } from './sign-access-token';
import { generateSigningKey, withRetirement, type RsaPublicJwk, type SigningKey } from './signing-keys';
import { at, AUDIENCE, ISSUER, T0 } from './testing/jwt-test-kit';

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi'];

let current: SigningKey;
let retired: SigningKey;
beforeAll(async () => {
  retired = withRetirement(await generateSigningKey(T0), at(300));
  current = await generateSigningKey(T0, at(300));
});

describe('the published key set (JWKS)', () => {
  it('the JWKS never contains a private member', () => {
    // Even a key object whose public half was (wrongly) built from the private JWK publishes only public members.
    const leaky: SigningKey = { ...current, publicJwk: { ...(current.privateKey.export({ format: 'jwk' }) as object), kid: current.kid } as RsaPublicJwk };
    for (const keys of [[current, retired], [leaky]]) {
      const document = JSON.parse(JSON.stringify(publicJwks(keys, at(100)))) as { keys: Record<string, unknown>[] };
      for (const jwk of document.keys) {
        expect(Object.keys(jwk).sort()).toEqual(['alg', 'e', 'kid', 'kty', 'n', 'use']);
        for (const member of PRIVATE_MEMBERS) expect(jwk).not.toHaveProperty(member);
      }
    }
  });

  it('lists every published key, newest first, each marked RS256 for signatures', () => {
    const { keys } = publicJwks([retired, current], at(100));
    expect(keys).toEqual([
      { kty: 'RSA', n: current.publicJwk.n, e: 'AQAB', kid: current.kid, alg: 'RS256', use: 'sig' },
      { kty: 'RSA', n: retired.publicJwk.n, e: 'AQAB', kid: retired.kid, alg: 'RS256', use: 'sig' },
    ]);
  });

  it('drops a retired key once no token it signed can still be valid', () => {
    expect(publicJwks([retired, current], at(300 + 604)).keys.map((jwk) => jwk.kid)).toContain(retired.kid);
    expect(publicJwks([retired, current], at(300 + 605)).keys.map((jwk) => jwk.kid)).toEqual([current.kid]);
  });

  it('a downstream service that knows only the JWKS verifies our access token with another library (jsonwebtoken)', async () => {
    const claims = { subjectType: 'agent' as const, subject: randomUUID(), sessionId: randomUUID(), amr: ['agent_key'], orgId: randomUUID() };
    const { token, jti } = await signAccessToken([retired, current], claims, at(400), { issuer: ISSUER, audience: AUDIENCE });

    // What the downstream service fetched from /.well-known/jwks.json, as text.
    const document = JSON.parse(JSON.stringify(publicJwks([retired, current], at(400)))) as { keys: (JsonWebKey & { kid: string })[] };
    const kid = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()).kid as string;
    const jwk = document.keys.find((key) => key.kid === kid)!;
    const publicKey = createPublicKey({ key: jwk, format: 'jwk' });

    const verified = verify(token, publicKey, {
      algorithms: ['RS256'],
      issuer: ISSUER,
      audience: AUDIENCE,
      clockTimestamp: at(401).getTime() / 1000,
      complete: true,
    });
    expect(verified.header).toEqual({ alg: 'RS256', kid: current.kid, typ: 'at+jwt' });
    expect(verified.payload as JwtPayload).toMatchObject({ sub: claims.subject, sub_type: 'agent', org: claims.orgId, sid: claims.sessionId, amr: ['agent_key'], jti });
    // And the retired key's entry does not verify it.
    const other = createPublicKey({ key: document.keys.find((key) => key.kid !== kid)!, format: 'jwk' });
    expect(() => verify(token, other, { algorithms: ['RS256'], clockTimestamp: at(401).getTime() / 1000 })).toThrow(/invalid signature/);
  });
});
