import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { TokenSigningRefusedError } from './jwt-errors';
import { activeSigningKey, type SigningKey } from './signing-keys';
import { epochSeconds, MAX_TOKEN_LIFETIME_SECONDS, SIGNING_ALGORITHM } from './token-policy';

/**
 * @internal The signing step shared by sign-access-token.ts and sign-typed-token.ts; it signs any `typ`, so it is
 * not exported from the module's index. Use those two.
 */

export interface SignedToken {
  token: string;
  jti: string;
  /** Seconds from issue to expiry, as OAuth's `expires_in`. */
  expiresIn: number;
  expiresAt: Date;
}

export interface JwtToSign {
  typ: string;
  issuer: string;
  audience: string;
  subject?: string;
  expiresInSeconds: number;
  claims: Readonly<Record<string, unknown>>;
}

/** Set here from the arguments; a caller's claims may not carry them. */
const REGISTERED = ['iss', 'aud', 'sub', 'exp', 'nbf', 'iat', 'jti'];

export async function signJwt(keys: readonly SigningKey[], now: Date, request: JwtToSign): Promise<SignedToken> {
  const { typ, issuer, audience, subject, expiresInSeconds, claims } = request;
  if (!Number.isInteger(expiresInSeconds) || expiresInSeconds < 1 || expiresInSeconds > MAX_TOKEN_LIFETIME_SECONDS) {
    // Key retention counts on it: a retired key is removed once every token it signed has expired.
    throw new TokenSigningRefusedError(`A token lives between 1 and ${MAX_TOKEN_LIFETIME_SECONDS} whole seconds.`);
  }
  const reserved = REGISTERED.filter((name) => Object.hasOwn(claims, name));
  if (reserved.length > 0) throw new TokenSigningRefusedError(`Claims ${reserved.join(', ')} are set by the token service.`);

  const key = activeSigningKey(keys, now);
  const jti = randomUUID();
  const iat = epochSeconds(now);
  const exp = iat + expiresInSeconds;
  const jwt = new SignJWT({ ...claims })
    .setProtectedHeader({ alg: SIGNING_ALGORITHM, kid: key.kid, typ })
    .setIssuer(issuer)
    .setAudience(audience)
    .setJti(jti)
    .setIssuedAt(iat)
    .setExpirationTime(exp);
  if (subject !== undefined) jwt.setSubject(subject);
  return { token: await jwt.sign(key.privateKey), jti, expiresIn: expiresInSeconds, expiresAt: new Date(exp * 1000) };
}
