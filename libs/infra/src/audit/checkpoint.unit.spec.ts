import { createPublicKey, verify } from 'node:crypto';
import { AuditKeyUnusableError } from './audit-errors';
import { activeAuditKey, auditKeysJwks, ed25519Thumbprint, generateAuditKey, withRetirement, type AuditJwks } from './audit-keys';
import { canonicalJson } from './canonical-json';
import { checkpointSigningInput, parseSignedCheckpoint, signCheckpoint, verifyCheckpoint, type CheckpointStatement } from './checkpoint';
import { at, ORG_A, rfc8032PublicKey, T0 } from './testing/audit-test-kit';

const statement: CheckpointStatement = {
  chain: `org:${ORG_A}`,
  position: '1234',
  count: 77,
  head: 'ab'.repeat(32),
  issuedAt: at(10).toISOString(),
};

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'];

describe('Ed25519 audit keys (RFC 8032, RFC 8037)', () => {
  it('RFC 8032 §7.1 TEST 1: node:crypto verifies the RFC’s signature of the empty message, and refuses a changed one', () => {
    const key = rfc8032PublicKey();
    const publicKey = createPublicKey({ key: { ...key.publicJwk }, format: 'jwk' });
    const signature = Buffer.from(
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
      'hex',
    );
    expect(verify(null, Buffer.alloc(0), publicKey, signature)).toBe(true);
    signature[0] = signature[0]! ^ 1;
    expect(verify(null, Buffer.alloc(0), publicKey, signature)).toBe(false);
  });

  it('RFC 8037 A.3 and A.4: the kid is the JWK thumbprint, and the published JWK verifies the RFC’s JWS', () => {
    const key = rfc8032PublicKey();
    expect(key.kid).toBe('kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k');
    expect(ed25519Thumbprint('11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo')).toBe(key.kid);
    const [jwk] = auditKeysJwks([key]).keys;
    const input = 'eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc';
    const signature = 'hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg';
    expect(verify(null, Buffer.from(input), createPublicKey({ key: { ...jwk! }, format: 'jwk' }), Buffer.from(signature, 'base64url'))).toBe(true);
  });

  it('the audit JWKS holds public members only, retired keys included, newest first', () => {
    const old = withRetirement(generateAuditKey(T0), at(100));
    const current = generateAuditKey(at(100));
    const document = JSON.parse(JSON.stringify(auditKeysJwks([old, current]))) as { keys: Record<string, unknown>[] };
    expect(document.keys.map((jwk) => jwk.kid)).toEqual([current.kid, old.kid]);
    for (const jwk of document.keys) {
      expect(Object.keys(jwk).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x']);
      for (const member of PRIVATE_MEMBERS) expect(jwk).not.toHaveProperty(member);
    }
  });

  it('the signing key is the newest unretired key that has a private half', () => {
    const old = generateAuditKey(T0);
    const current = generateAuditKey(at(100));
    expect(activeAuditKey([old, current], at(200)).kid).toBe(current.kid);
    expect(activeAuditKey([old, withRetirement(current, at(150))], at(200)).kid).toBe(old.kid);
    expect(() => activeAuditKey([withRetirement(old, at(1))], at(200))).toThrow(AuditKeyUnusableError);
  });
});

describe('signed checkpoints', () => {
  const key = generateAuditKey(T0);
  const jwks = auditKeysJwks([key]);

  it('the signature covers the RFC 8785 form of exactly the six checkpoint members', () => {
    const signed = signCheckpoint(statement, key);
    expect(signed.keyId).toBe(key.kid);
    const { signature, ...body } = signed;
    expect(checkpointSigningInput(signed).toString()).toBe(canonicalJson(body));
    expect(checkpointSigningInput(signed).toString()).toBe(
      `{"chain":"org:${ORG_A}","count":77,"head":"${'ab'.repeat(32)}","issuedAt":"2026-11-25T12:00:10.000Z","keyId":"${key.kid}","position":"1234"}`,
    );
    expect(verify(null, checkpointSigningInput(signed), key.privateKey!, Buffer.from(signature, 'base64url'))).toBe(true);
    expect(verifyCheckpoint(signed, jwks)).toEqual({ ok: true, key: jwks.keys[0] });
  });

  it.each<[string, Partial<CheckpointStatement>]>([
    ['count', { count: 78 }],
    ['position', { position: '1235' }],
    ['head', { head: 'cd'.repeat(32) }],
    ['chain', { chain: 'platform' }],
    ['issuedAt', { issuedAt: at(11).toISOString() }],
  ])('a checkpoint whose %s was changed after signing does not verify', (_member, change) => {
    const forged = { ...signCheckpoint(statement, key), ...change };
    expect(verifyCheckpoint(forged, jwks)).toMatchObject({ ok: false, reason: 'bad-signature' });
  });

  it('checkpoint verification with a retired key still in the JWKS passes', () => {
    const retired = generateAuditKey(T0);
    const signedBefore = signCheckpoint(statement, retired);
    const current = generateAuditKey(at(100));
    const published = auditKeysJwks([withRetirement(retired, at(100)), current]);
    expect(verifyCheckpoint(signedBefore, published)).toMatchObject({ ok: true, key: { kid: retired.kid } });
  });

  it('checkpoint verification with an unknown kid fails', () => {
    const stranger = generateAuditKey(T0);
    const signed = signCheckpoint(statement, stranger);
    expect(verifyCheckpoint(signed, jwks)).toEqual({ ok: false, reason: 'unknown-key', detail: `no published audit key has kid "${stranger.kid}"` });
    // Claiming a published kid does not help a key that is not the published one.
    expect(verifyCheckpoint({ ...signed, keyId: key.kid }, jwks)).toMatchObject({ ok: false, reason: 'bad-signature' });
  });

  it('a published entry that is not an Ed25519 key verifies nothing', () => {
    const signed = signCheckpoint(statement, key);
    const wrong = { keys: [{ ...jwks.keys[0]!, crv: 'X25519' }] } as unknown as AuditJwks;
    expect(verifyCheckpoint(signed, wrong)).toMatchObject({ ok: false, reason: 'unknown-key' });
  });

  it('a signature that is not 64 bytes of base64url fails without throwing', () => {
    const signed = signCheckpoint(statement, key);
    for (const signature of ['', `${signed.signature}=`, signed.signature.slice(1), `${signed.signature.slice(0, -1)}B`]) {
      expect(verifyCheckpoint({ ...signed, signature }, jwks)).toMatchObject({ ok: false, reason: 'bad-signature' });
    }
  });

  it('a key refuses to sign after its retirement, and a public-only key cannot sign', () => {
    expect(() => signCheckpoint(statement, withRetirement(key, at(5)))).toThrow(AuditKeyUnusableError);
    expect(() => signCheckpoint(statement, { ...key, privateKey: undefined })).toThrow(AuditKeyUnusableError);
  });

  it('refuses to sign a statement that is not a checkpoint', () => {
    expect(() => signCheckpoint({ ...statement, head: 'AB'.repeat(32) }, key)).toThrow(TypeError);
    expect(() => signCheckpoint({ ...statement, count: 0 }, key)).toThrow(/null exactly when/);
  });

  it('reads a signed checkpoint from untrusted JSON', () => {
    const signed = signCheckpoint(statement, key);
    expect(parseSignedCheckpoint(JSON.parse(JSON.stringify(signed)))).toEqual(signed);
    expect(parseSignedCheckpoint({ ...signed, count: '77' })).toMatch(/count/);
    expect(parseSignedCheckpoint({ ...signed, issuedAt: '2026-13-01T00:00:00.000Z' })).toMatch(/issuedAt/);
    expect(parseSignedCheckpoint(null)).toBe('is not an object');
  });
});
