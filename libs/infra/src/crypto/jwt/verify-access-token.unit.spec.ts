import { createPublicKey, generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { AccessTokenInvalidError, type AccessTokenInvalidCode } from './jwt-errors';
import { signAccessToken } from './sign-access-token';
import { signTypedToken } from './sign-typed-token';
import { generateSigningKey, SigningKeyRing, type SigningKey, type SigningKeyProvider } from './signing-keys';
import {
  accessTokenPayload,
  at,
  AUDIENCE,
  decodeSegment,
  failureOf,
  forgeJws,
  hs256,
  ISSUER,
  noSignature,
  ps256,
  rfc7638Thumbprint,
  rs256,
  rs512,
  T0,
  TestClock,
} from './testing/jwt-test-kit';
import { AccessTokenVerifier } from './verify-access-token';

let ours: SigningKey;
let attacker: { privateKey: KeyObject; publicKey: KeyObject; jwk: { kty: 'RSA'; n: string; e: string }; kid: string };

beforeAll(async () => {
  ours = await generateSigningKey(T0);
  const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const { n, e } = pair.publicKey.export({ format: 'jwk' }) as { n: string; e: string };
  attacker = { ...pair, jwk: { kty: 'RSA', n, e }, kid: rfc7638Thumbprint({ n, e }) };
});

const NOW = at(60);
const clock = new TestClock(NOW);

function verifierOver(keys: SigningKeyProvider = new SigningKeyRing([ours]), cacheSize = 10_000) {
  return new AccessTokenVerifier({ keys, issuer: ISSUER, audience: AUDIENCE, clock: clock.now, cacheSize });
}

const header = (overrides: Record<string, unknown> = {}) => ({ alg: 'RS256', typ: 'at+jwt', kid: ours.kid, ...overrides });
const ourSignature = () => rs256(ours.privateKey);
const human = () => ({ subjectType: 'human' as const, subject: randomUUID(), sessionId: randomUUID(), amr: ['pwd', 'otp'] });

async function refusal(token: string, verifier = verifierOver()): Promise<AccessTokenInvalidCode> {
  try {
    await verifier.verify(token);
  } catch (error) {
    expect(error).toBeInstanceOf(AccessTokenInvalidError);
    return (error as AccessTokenInvalidError).code;
  }
  throw new Error('the token was accepted');
}

beforeEach(() => clock.set(NOW));

describe('an access token we signed', () => {
  it('verifies to the principal it was issued for, a human without an org', async () => {
    const claims = human();
    const { token, jti, expiresAt } = await signAccessToken([ours], claims, T0, { issuer: ISSUER, audience: AUDIENCE });
    const principal = await verifierOver().verify(token);
    expect(principal).toEqual({ ...claims, jti, expiresAt });
    expect(principal).not.toHaveProperty('orgId');
  });

  it('verifies to an agent principal bound to its org', async () => {
    const claims = { subjectType: 'agent' as const, subject: randomUUID(), sessionId: randomUUID(), amr: ['agent_key'], orgId: randomUUID() };
    const { token, jti, expiresAt } = await signAccessToken([ours], claims, T0, { issuer: ISSUER, audience: AUDIENCE });
    expect(await verifierOver().verify(token)).toEqual({ ...claims, jti, expiresAt });
  });

  it('is still accepted when built by hand exactly as we sign (so the forged tokens below differ in one thing only)', async () => {
    await expect(verifierOver().verify(forgeJws(header(), accessTokenPayload(T0), ourSignature()))).resolves.toMatchObject({ subjectType: 'human' });
  });
});

describe('the JWT attack corpus: every token is refused with the code of the rule that catches it', () => {
  const cases: [rule: string, build: () => Promise<string> | string, code: AccessTokenInvalidCode][] = [
    ['alg "none" is refused', () => forgeJws(header({ alg: 'none' }), accessTokenPayload(T0), noSignature), 'JWT.ALG'],
    ['alg "None" is refused', () => forgeJws(header({ alg: 'None' }), accessTokenPayload(T0), noSignature), 'JWT.ALG'],
    ['alg "none" without a kid or typ is refused', () => forgeJws({ alg: 'none' }, accessTokenPayload(T0), noSignature), 'JWT.ALG'],
    [
      'HS256 keyed with our public key as PEM is refused',
      () => forgeJws(header({ alg: 'HS256' }), accessTokenPayload(T0), hs256(publicPem())),
      'JWT.ALG',
    ],
    ['HS256 keyed with our published JWK is refused', () => forgeJws(header({ alg: 'HS256' }), accessTokenPayload(T0), hs256(JSON.stringify(ours.publicJwk))), 'JWT.ALG'],
    ['RS512 signed with our own key is refused', () => forgeJws(header({ alg: 'RS512' }), accessTokenPayload(T0), rs512(ours.privateKey)), 'JWT.ALG'],
    ['PS256 signed with our own key is refused', () => forgeJws(header({ alg: 'PS256' }), accessTokenPayload(T0), ps256(ours.privateKey)), 'JWT.ALG'],
    ['a kid that is not in our key set is refused', () => forgeJws(header({ kid: attacker.kid }), accessTokenPayload(T0), rs256(attacker.privateKey)), 'JWT.KID_UNKNOWN'],
    ['a token without a kid is refused', () => forgeJws(header({ kid: undefined }), accessTokenPayload(T0), ourSignature()), 'JWT.KID_UNKNOWN'],
    ["an attacker's signature under our kid is refused", () => forgeJws(header(), accessTokenPayload(T0), rs256(attacker.privateKey)), 'JWT.SIGNATURE'],
    [
      'a jku header pointing at the attacker’s JWKS is refused',
      () => forgeJws(header({ kid: attacker.kid, jku: 'https://attacker.example/jwks.json' }), accessTokenPayload(T0), rs256(attacker.privateKey)),
      'JWT.FORBIDDEN_HEADER',
    ],
    [
      'an x5u header pointing at the attacker’s certificate is refused',
      () => forgeJws(header({ kid: attacker.kid, x5u: 'https://attacker.example/cert.pem' }), accessTokenPayload(T0), rs256(attacker.privateKey)),
      'JWT.FORBIDDEN_HEADER',
    ],
    [
      'an embedded jwk of the attacker’s key is refused',
      () => forgeJws(header({ kid: attacker.kid, jwk: attacker.jwk }), accessTokenPayload(T0), rs256(attacker.privateKey)),
      'JWT.FORBIDDEN_HEADER',
    ],
    [
      'an embedded jwk under our own kid is refused',
      () => forgeJws(header({ jwk: attacker.jwk }), accessTokenPayload(T0), rs256(attacker.privateKey)),
      'JWT.FORBIDDEN_HEADER',
    ],
    [
      'an x5c chain of the attacker’s is refused',
      () => forgeJws(header({ x5c: [attacker.publicKey.export({ type: 'spki', format: 'der' }).toString('base64')] }), accessTokenPayload(T0), rs256(attacker.privateKey)),
      'JWT.FORBIDDEN_HEADER',
    ],
    ['a crit header is refused', () => forgeJws(header({ crit: ['exp'], exp: 1 }), accessTokenPayload(T0), ourSignature()), 'JWT.FORBIDDEN_HEADER'],
    ['an unencoded payload (b64: false) is refused', () => forgeJws(header({ b64: false }), accessTokenPayload(T0), ourSignature()), 'JWT.FORBIDDEN_HEADER'],
    ['an expired token is refused', () => forgeJws(header(), accessTokenPayload(at(-700, NOW)), ourSignature()), 'JWT.EXPIRED'],
    ['a token whose nbf lies ahead is refused', () => forgeJws(header(), accessTokenPayload(NOW, { nbf: at(60, NOW).getTime() / 1000 }), ourSignature()), 'JWT.NOT_YET_VALID'],
    ['a token issued in the future is refused', () => forgeJws(header(), accessTokenPayload(at(60, NOW)), ourSignature()), 'JWT.NOT_YET_VALID'],
    ['a wrong iss is refused', () => forgeJws(header(), accessTokenPayload(T0, { iss: 'https://attacker.example' }), ourSignature()), 'JWT.ISSUER'],
    ['a missing iss is refused', () => forgeJws(header(), accessTokenPayload(T0, { iss: undefined }), ourSignature()), 'JWT.ISSUER'],
    ['a wrong aud is refused', () => forgeJws(header(), accessTokenPayload(T0, { aud: 'another-service' }), ourSignature()), 'JWT.AUDIENCE'],
    ['a missing aud is refused', () => forgeJws(header(), accessTokenPayload(T0, { aud: undefined }), ourSignature()), 'JWT.AUDIENCE'],
    [
      'an MFA challenge signed by our own key cannot pass as an access token',
      async () => (await signTypedToken([ours], {}, T0, { typ: 'mfa-challenge+jwt', issuer: ISSUER, audience: AUDIENCE, expiresInSeconds: 300, subject: randomUUID() })).token,
      'JWT.TYP',
    ],
    ['a token without typ is refused', () => forgeJws(header({ typ: undefined }), accessTokenPayload(T0), ourSignature()), 'JWT.TYP'],
    ['a plain "JWT" typ is refused', () => forgeJws(header({ typ: 'JWT' }), accessTokenPayload(T0), ourSignature()), 'JWT.TYP'],
    ['a tampered payload is refused', () => tamperPayload(), 'JWT.SIGNATURE'],
    ['a tampered signature is refused', () => tamperSignature(), 'JWT.SIGNATURE'],
    ['a token without a signature is refused', () => forgeJws(header(), accessTokenPayload(T0), noSignature), 'JWT.SIGNATURE'],
  ];

  it.each(cases)('%s', async (_rule, build, code) => {
    expect(await refusal(await build())).toBe(code);
  });

  it('refuses a token that names its own key before looking up any key', async () => {
    const lookups = jest.fn(() => [ours]);
    const verifier = verifierOver({ signingKeys: lookups });
    for (const extra of [{ jku: 'https://attacker.example/jwks.json' }, { x5u: 'https://attacker.example/c.pem' }, { jwk: attacker.jwk }, { crit: ['b64'] }, { x5c: ['MII='] }]) {
      expect(await refusal(forgeJws(header(extra), accessTokenPayload(T0), rs256(attacker.privateKey)), verifier)).toBe('JWT.FORBIDDEN_HEADER');
    }
    expect(lookups).not.toHaveBeenCalled();
  });

  it('does not echo an attacker-chosen header name into the log message', async () => {
    const error = await failureOf<AccessTokenInvalidError>(
      verifierOver().verify(forgeJws(header({ 'evil\nFAKE LOG LINE': 1 }), accessTokenPayload(T0), ourSignature())),
    );
    expect(error.code).toBe('JWT.FORBIDDEN_HEADER');
    expect(error.message).not.toContain('FAKE');
  });
});

describe('claims that are malformed are refused with JWT.CLAIMS, even under a valid signature', () => {
  const cases: [rule: string, overrides: Record<string, unknown>][] = [
    ['sub is not a UUID', { sub: 'admin' }],
    ['sub is an upper-case UUID', { sub: randomUUID().toUpperCase() }],
    ['sub is missing', { sub: undefined }],
    ['sub_type is neither human nor agent', { sub_type: 'system' }],
    ['sub_type is missing', { sub_type: undefined }],
    ['sid is not a UUID', { sid: 42 }],
    ['sid is missing', { sid: undefined }],
    ['amr is a string', { amr: 'pwd' }],
    ['amr is empty', { amr: [] }],
    ['amr holds a non-string', { amr: ['pwd', 1] }],
    ['a human token carries an org', { org: randomUUID() }],
    ['an agent token lacks its org', { sub_type: 'agent' }],
    ['an agent org is not a UUID', { sub_type: 'agent', org: 'acme' }],
    ['jti is missing', { jti: undefined }],
    ['jti is not a UUID', { jti: 'x' }],
    ['exp is missing', { exp: undefined }],
    ['exp is a string', { exp: String(Math.floor(T0.getTime() / 1000) + 600) }],
    ['iat is missing', { iat: undefined }],
    ['the lifetime exceeds 600 seconds', { exp: Math.floor(T0.getTime() / 1000) + 86_400 }],
  ];

  it.each(cases)('%s', async (_rule, overrides) => {
    expect(await refusal(forgeJws(header(), accessTokenPayload(T0, overrides), ourSignature()))).toBe('JWT.CLAIMS');
  });

  it.each<[string, () => string]>([
    ['an empty string', () => ''],
    ['one segment', () => 'abc'],
    ['two segments', () => 'abc.def'],
    ['four segments', () => 'a.b.c.d'],
    ['a header that is not JSON', () => `${Buffer.from('{alg').toString('base64url')}.e30.`],
    ['a header that is a JSON array', () => `${Buffer.from('[]').toString('base64url')}.e30.`],
    ['a payload that is not JSON', () => forgeRaw(JSON.stringify(header()), 'not json')],
    ['an oversized token', () => 'a'.repeat(9000)],
  ])('a malformed token (%s) is refused with JWT.MALFORMED', async (_shape, token) => {
    expect(await refusal(token())).toBe('JWT.MALFORMED');
  });
});

/** Correctly signed by our key, whatever the bytes of header and payload. */
function forgeRaw(headerJson: string, payloadText: string): string {
  const input = `${Buffer.from(headerJson).toString('base64url')}.${Buffer.from(payloadText).toString('base64url')}`;
  return `${input}.${ourSignature()(input).toString('base64url')}`;
}

const publicPem = (): string => createPublicKey(ours.privateKey).export({ type: 'spki', format: 'pem' }).toString();

async function tamperPayload(): Promise<string> {
  const { token } = await signAccessToken([ours], human(), T0, { issuer: ISSUER, audience: AUDIENCE });
  const [h, , s] = token.split('.');
  const payload = { ...decodeSegment(token, 1), sub_type: 'agent', org: randomUUID() };
  return `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
}

async function tamperSignature(): Promise<string> {
  const { token } = await signAccessToken([ours], human(), T0, { issuer: ISSUER, audience: AUDIENCE });
  const [h, p, s] = token.split('.');
  const signature = Buffer.from(s!, 'base64url');
  signature[100] = signature[100]! ^ 0x01;
  return `${h}.${p}.${signature.toString('base64url')}`;
}
