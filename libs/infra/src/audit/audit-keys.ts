import { createHash, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { AuditKeyUnusableError } from './audit-errors';

/**
 * Audit keys sign chain checkpoints (Ed25519). They are not the token-signing keys: a leak of one must not forge the
 * other, and audit keys are never dropped from the published set while exports they signed may still be verified,
 * which is for as long as anyone keeps an export.
 *
 * Published at `/.well-known/audit-keys.json` as a JWK set holding public members only.
 */

export interface AuditPublicJwk {
  readonly kty: 'OKP';
  readonly crv: 'Ed25519';
  /** The 32-byte public key, base64url. */
  readonly x: string;
  readonly kid: string;
  readonly alg: 'EdDSA';
  readonly use: 'sig';
}

export interface AuditKey {
  /** RFC 7638 JWK thumbprint (SHA-256, base64url) of the public key, so a `kid` names exactly one key. */
  readonly kid: string;
  readonly publicJwk: AuditPublicJwk;
  /** Only where the sealer holds the key; a set read from a JWKS has none. */
  readonly privateKey?: KeyObject;
  readonly createdAt: Date;
  /** From then on the key signs nothing, but stays published so what it signed can still be verified. */
  readonly retiredAt?: Date;
}

export interface AuditJwks {
  readonly keys: readonly AuditPublicJwk[];
}

export function generateAuditKey(now: Date): AuditKey {
  const { privateKey } = generateKeyPairSync('ed25519');
  return auditKeyFromPrivateKey(privateKey, { createdAt: now });
}

export function auditKeyFromPrivateKey(privateKey: KeyObject, dates: { createdAt: Date; retiredAt?: Date }): AuditKey {
  if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'ed25519') {
    throw new AuditKeyUnusableError(`an audit key is an Ed25519 private key, not a ${privateKey.asymmetricKeyType ?? 'symmetric'} ${privateKey.type} key`);
  }
  const { x } = createPublicKey(privateKey).export({ format: 'jwk' });
  if (typeof x !== 'string') throw new AuditKeyUnusableError('the Ed25519 public key has no "x"');
  const kid = ed25519Thumbprint(x);
  const publicJwk: AuditPublicJwk = Object.freeze({ kty: 'OKP', crv: 'Ed25519', x, kid, alg: 'EdDSA', use: 'sig' });
  return Object.freeze({ kid, publicJwk, privateKey, ...dates });
}

/**
 * RFC 7638: SHA-256 over the required members in lexicographic order without whitespace. For an OKP key those are
 * crv, kty and x, all strings without characters to escape, so the text is fixed but for `x`.
 */
export function ed25519Thumbprint(x: string): string {
  return createHash('sha256').update(`{"crv":"Ed25519","kty":"OKP","x":"${x}"}`).digest('base64url');
}

export function withRetirement(key: AuditKey, retiredAt: Date): AuditKey {
  return Object.freeze({ ...key, retiredAt });
}

/**
 * The published set: every key, retired ones included (a retired key's checkpoints stay verifiable), newest first.
 * Each entry is built member by member from the public half, never copied from a key object, so no private member
 * can slip into it.
 */
export function auditKeysJwks(keys: readonly AuditKey[]): AuditJwks {
  return {
    keys: [...keys]
      .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())
      .map(({ kid, publicJwk: { x } }) => ({ kty: 'OKP', crv: 'Ed25519', x, kid, alg: 'EdDSA', use: 'sig' })),
  };
}

/** The key that signs at `now`: the newest one with a private half that is not retired. */
export function activeAuditKey(keys: readonly AuditKey[], now: Date): AuditKey {
  const usable = keys.filter((key) => key.privateKey !== undefined && (key.retiredAt === undefined || key.retiredAt.getTime() > now.getTime()));
  const newest = usable.sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())[0];
  if (!newest) throw new AuditKeyUnusableError(`no audit key may sign at ${now.toISOString()}: every key is retired or public only`);
  return newest;
}
