import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { KeyDirectory, type SigningKey } from '@bastion/infra/crypto/jwt';
import { forgeJws, hs256, noSignature, rs256, rs512 } from '@bastion/infra/crypto/jwt/testing/jwt-test-kit';
import { type TestApi, startTestApi } from '../../../../test/support/api';
import { closePools, workerDatabase } from '../../../../test/support/database';
import { call, decodeJwt } from '../../../../test/support/http';
import { newUser, type SignedIn } from '../../../../test/support/identity';
import { dropPrefix } from '../../../../test/support/redis';

let api: TestApi;
let user: SignedIn;
let key: SigningKey;
let good: { header: Record<string, unknown>; payload: Record<string, unknown> };
const attacker = generateKeyPairSync('rsa', { modulusLength: 2048 });

beforeAll(async () => {
  api = await startTestApi(await workerDatabase());
  user = await newUser(api);
  [key] = await new KeyDirectory(api.keysDir).load();
  good = decodeJwt(user.accessToken);
});
afterAll(async () => {
  await api?.close();
  await closePools();
  if (api) await dropPrefix(api.redisPrefix);
});

const now = () => Math.floor(Date.now() / 1000);
const ours = (signer = rs256(key.privateKey)) => signer;
const publicPem = () => createPublicKey(key.privateKey).export({ type: 'spki', format: 'pem' }).toString();
const jwkOf = (k: KeyObject) => k.export({ format: 'jwk' });

// Each attack differs from a genuine token in one respect; the control proves the forging itself is sound.
const attacks: [string, () => string][] = [
  ['alg: none', () => forgeJws({ ...good.header, alg: 'none' }, good.payload, noSignature)],
  ['HS256 signed with the public key as the HMAC secret', () => forgeJws({ ...good.header, alg: 'HS256' }, good.payload, hs256(publicPem()))],
  ['a kid not in the key set', () => forgeJws({ ...good.header, kid: 'not-our-key' }, good.payload, ours())],
  ['a jku header pointing at the attacker', () => forgeJws({ ...good.header, jku: 'https://evil.example/jwks.json' }, good.payload, rs256(attacker.privateKey))],
  ['an x5u header', () => forgeJws({ ...good.header, x5u: 'https://evil.example/cert.pem' }, good.payload, rs256(attacker.privateKey))],
  ['an embedded jwk of the attacker', () => forgeJws({ ...good.header, jwk: jwkOf(attacker.publicKey) }, good.payload, rs256(attacker.privateKey))],
  ['expired', () => forgeJws(good.header, { ...good.payload, iat: now() - 1200, exp: now() - 600 }, ours())],
  ['not yet valid', () => forgeJws(good.header, { ...good.payload, nbf: now() + 300, iat: now(), exp: now() + 600 }, ours())],
  ['a wrong issuer', () => forgeJws(good.header, { ...good.payload, iss: 'https://evil.example' }, ours())],
  ['a wrong audience', () => forgeJws(good.header, { ...good.payload, aud: 'another-service' }, ours())],
  ['a challenge token used as an access token (typ)', () => forgeJws({ ...good.header, typ: 'mfa-challenge+jwt' }, good.payload, ours())],
  ['no typ at all', () => forgeJws({ alg: 'RS256', kid: good.header.kid }, good.payload, ours())],
  ['a tampered payload', () => {
    const [h, , s] = user.accessToken.split('.');
    return `${h}.${Buffer.from(JSON.stringify({ ...good.payload, sub: '00000000-0000-4000-8000-000000000000' })).toString('base64url')}.${s}`;
  }],
  ['a tampered signature', () => {
    const [h, p, s] = user.accessToken.split('.');
    const bytes = Buffer.from(s!, 'base64url');
    bytes[10] = bytes[10]! ^ 0x01;
    return `${h}.${p}.${bytes.toString('base64url')}`;
  }],
  ['RS512 with our own key', () => forgeJws({ ...good.header, alg: 'RS512' }, good.payload, rs512(key.privateKey))],
];

describe('a protected route refuses every forged, stale or misdirected access token with 401', () => {
  it('control: a token forged the same way but genuine is accepted', async () => {
    const control = forgeJws(good.header, { ...good.payload, jti: '11111111-1111-4111-8111-111111111111' }, ours());
    expect((await call(api, 'GET', '/v1/auth/sessions', { token: control })).status).toBe(200);
  });

  it.each(attacks)('%s', async (_name, forge) => {
    const reply = await call(api, 'GET', '/v1/auth/sessions', { token: forge() });
    expect(reply.status).toBe(401);
    expect(reply.body).toMatchObject({ type: 'urn:bastion:problem:unauthenticated', status: 401 });
    expect(JSON.stringify(reply.body)).not.toMatch(/JWT\.|expired|signature|kid/i); // the caller learns nothing
  });

  it('an agent token where a human is required', async () => {
    const orgId = (await call(api, 'POST', '/v1/orgs', { token: user.accessToken, body: { name: 'A' } })).body.id as string;
    const agentId = (await call(api, 'POST', `/v1/orgs/${orgId}/agents`, { token: user.accessToken, body: { name: 'bot' } })).body.id as string;
    const issued = await call(api, 'POST', `/v1/orgs/${orgId}/agents/${agentId}/keys`, { token: user.accessToken, body: {} });
    const agentToken = (await call(api, 'POST', '/v1/auth/agent-token', { body: { apiKey: issued.body.key } })).body.accessToken as string;
    expect((await call(api, 'GET', '/v1/auth/sessions', { token: agentToken })).status).toBe(401);
  });

  it('no token, or something that is not a bearer JWT', async () => {
    expect((await call(api, 'GET', '/v1/auth/sessions')).status).toBe(401);
    expect((await call(api, 'GET', '/v1/auth/sessions', { headers: { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` } })).status).toBe(401);
  });
});

describe('the JWKS', () => {
  it('a downstream verifier that knows only the JWKS URL verifies a real access token with another library', async () => {
    const response = await fetch(`${api.base}/.well-known/jwks.json`);
    expect(response.headers.get('cache-control')).toMatch(/max-age=\d+/);
    const jwks = (await response.json()) as { keys: (Record<string, string> & { kid: string })[] };
    for (const k of jwks.keys) for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi']) expect(k[member]).toBeUndefined();
    const { header } = decodeJwt(user.accessToken);
    const jwk = jwks.keys.find((k) => k.kid === header.kid)!;
    const publicKey = createPublicKey({ key: jwk as unknown as import('node:crypto').JsonWebKey, format: 'jwk' });
    const claims = jwt.verify(user.accessToken, publicKey, { algorithms: ['RS256'], audience: 'bastion-api' }) as jwt.JwtPayload;
    expect(claims.sub).toBe(user.userId);
    expect(() => jwt.verify(user.accessToken, createPublicKey(attacker.publicKey), { algorithms: ['RS256'] })).toThrow();
  });
});
