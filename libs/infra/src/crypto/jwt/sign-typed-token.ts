import { TokenSigningRefusedError } from './jwt-errors';
import { signJwt, type SignedToken } from './sign-jwt';
import type { SigningKey } from './signing-keys';
import { ACCESS_TOKEN_TYP, normalizeTyp } from './token-policy';

export interface TypedTokenOptions {
  /** Names what the token is for, e.g. `mfa-challenge+jwt`; a verifier of one type refuses every other. */
  typ: string;
  issuer: string;
  audience: string;
  /** At most `MAX_TOKEN_LIFETIME_SECONDS`; an MFA challenge lives 300. */
  expiresInSeconds: number;
  subject?: string;
}

const TYP = /^[a-z0-9][a-z0-9.-]*\+jwt$/;

/**
 * Signs a short-lived token of a type other than an access token, with the same keys, `jti`, `iat` and `exp`.
 * Its `typ` must be specific (`<purpose>+jwt`) and may not be `at+jwt`: access tokens come only from
 * signAccessToken, whose claims are checked.
 */
export async function signTypedToken(
  keys: readonly SigningKey[],
  claims: Readonly<Record<string, unknown>>,
  now: Date,
  { typ, issuer, audience, expiresInSeconds, subject }: TypedTokenOptions,
): Promise<SignedToken> {
  if (!TYP.test(typ)) throw new TokenSigningRefusedError('A token type is lower-case "<purpose>+jwt".');
  if (normalizeTyp(typ) === normalizeTyp(ACCESS_TOKEN_TYP)) {
    throw new TokenSigningRefusedError('Access tokens are signed by signAccessToken only.');
  }
  return signJwt(keys, now, { typ, issuer, audience, subject, expiresInSeconds, claims });
}

export type { SignedToken };
