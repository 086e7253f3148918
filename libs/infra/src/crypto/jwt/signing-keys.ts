import { createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { calculateJwkThumbprint } from 'jose';
import { NoActiveSigningKeyError } from './jwt-errors';
import { RETIRED_KEY_RETENTION_SECONDS, RSA_MODULUS_BITS } from './token-policy';

/**
 * The signing key set and the pure rules over it. Where keys are kept is elsewhere (key-directory.ts for files,
 * signing-keys-from-env.ts for production); rotation is rotate-signing-keys.ts.
 *
 * A key's life: published from creation; signs from `signsFrom` (a rotation sets it a few minutes ahead, so
 * verifiers that cache the JWKS hold the key before any token uses it); stops signing at `retiredAt`; stays
 * published until `retiredAt` + the longest token lifetime + clock tolerance, so no token it signed is orphaned.
 */

export interface RsaPublicJwk {
  readonly kty: 'RSA';
  readonly n: string;
  readonly e: string;
  readonly kid: string;
  readonly alg: 'RS256';
  readonly use: 'sig';
}

export interface SigningKey {
  /** RFC 7638 JWK thumbprint (SHA-256, base64url) of the public key, so a `kid` names exactly one key. */
  readonly kid: string;
  readonly privateKey: KeyObject;
  /** Frozen; jose also binds it to RS256 through `alg` when it verifies with it. */
  readonly publicJwk: RsaPublicJwk;
  readonly createdAt: Date;
  readonly signsFrom: Date;
  readonly retiredAt?: Date;
}

export interface SigningKeyDates {
  createdAt: Date;
  signsFrom: Date;
  retiredAt?: Date;
}

/** Where long-lived consumers (the verifier, the JWKS route) read the current key set from. */
export interface SigningKeyProvider {
  signingKeys(): readonly SigningKey[];
}

/** A provider whose keys are swapped whole when they are reloaded (after `bastion keys rotate`). */
export class SigningKeyRing implements SigningKeyProvider {
  #keys: readonly SigningKey[];

  constructor(keys: readonly SigningKey[]) {
    this.#keys = Object.freeze([...keys]);
  }

  signingKeys(): readonly SigningKey[] {
    return this.#keys;
  }

  replace(keys: readonly SigningKey[]): void {
    this.#keys = Object.freeze([...keys]);
  }
}

const generateRsaKeyPair = promisify(generateKeyPair);

export async function generateSigningKey(now: Date, signsFrom: Date = now): Promise<SigningKey> {
  const { privateKey } = await generateRsaKeyPair('rsa', { modulusLength: RSA_MODULUS_BITS, publicExponent: 0x10001 });
  return signingKeyFromPrivateKey(privateKey, { createdAt: now, signsFrom });
}

/** Throws a `TypeError` naming the problem; callers wrap it in the error of the place the key came from. */
export function assertRs256PrivateKey(key: KeyObject): void {
  if (key.type !== 'private') throw new TypeError(`expected a private key, got a ${key.type} key`);
  if (key.asymmetricKeyType !== 'rsa') throw new TypeError(`expected an RSA key, got ${key.asymmetricKeyType ?? 'an unknown key type'}`);
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < RSA_MODULUS_BITS) throw new TypeError(`expected an RSA key of at least ${RSA_MODULUS_BITS} bits, got ${bits}`);
}

export async function signingKeyFromPrivateKey(privateKey: KeyObject, dates: SigningKeyDates): Promise<SigningKey> {
  assertRs256PrivateKey(privateKey);
  const { n, e } = createPublicKey(privateKey).export({ format: 'jwk' });
  if (typeof n !== 'string' || typeof e !== 'string') throw new TypeError('the RSA public key has no modulus or exponent');
  const kid = await calculateJwkThumbprint({ kty: 'RSA', n, e }, 'sha256');
  const publicJwk: RsaPublicJwk = Object.freeze({ kty: 'RSA', n, e, kid, alg: 'RS256', use: 'sig' });
  return Object.freeze({ kid, privateKey, publicJwk, ...dates });
}

export function withRetirement(key: SigningKey, retiredAt: Date): SigningKey {
  return Object.freeze({ ...key, retiredAt });
}

const ms = (date: Date): number => date.getTime();

/** Whether `key` may sign at `now`: its `signsFrom` has come and its `retiredAt`, if any, has not. */
export function maySign(key: SigningKey, now: Date): boolean {
  return ms(key.signsFrom) <= ms(now) && (key.retiredAt === undefined || ms(key.retiredAt) > ms(now));
}

/** The key that signs at `now`: the newest (by `signsFrom`, then `createdAt`, then list order) that may sign. */
export function activeSigningKey(keys: readonly SigningKey[], now: Date): SigningKey {
  let active: SigningKey | undefined;
  for (const key of keys) {
    if (!maySign(key, now)) continue;
    const newer =
      active === undefined ||
      ms(key.signsFrom) > ms(active.signsFrom) ||
      (ms(key.signsFrom) === ms(active.signsFrom) && ms(key.createdAt) >= ms(active.createdAt));
    if (newer) active = key;
  }
  if (!active) {
    throw new NoActiveSigningKeyError(
      `No signing key may sign at ${now.toISOString()}: every key is retired or starts later; run \`bastion keys rotate\`.`,
    );
  }
  return active;
}

/** Whether tokens signed by `key` may still be valid at `now`, which is what keeps it in the JWKS. */
export function isPublished(key: SigningKey, now: Date): boolean {
  return key.retiredAt === undefined || ms(now) < ms(key.retiredAt) + RETIRED_KEY_RETENTION_SECONDS * 1000;
}

/** The keys a verifier may use at `now`: the JWKS, and the only keys our own verifier looks a `kid` up in. */
export function publishedSigningKeys(keys: readonly SigningKey[], now: Date): SigningKey[] {
  return keys.filter((key) => isPublished(key, now));
}
