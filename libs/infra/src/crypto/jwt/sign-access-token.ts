import { fromWireClaims, toWireClaims, type AccessTokenClaims } from './access-token-claims';
import { TokenSigningRefusedError } from './jwt-errors';
import { signJwt, type SignedToken } from './sign-jwt';
import type { SigningKey } from './signing-keys';
import { ACCESS_TOKEN_TYP, MAX_TOKEN_LIFETIME_SECONDS } from './token-policy';

export interface AccessTokenSigningOptions {
  issuer: string;
  audience: string;
  /** Default and maximum: `MAX_TOKEN_LIFETIME_SECONDS` (600). */
  expiresInSeconds?: number;
}

/**
 * The access token every sign-in method ends in (DESIGN §5): RS256 with the active key, header
 * `{ alg, kid, typ: 'at+jwt' }`, claims `iss aud sub sub_type sid amr jti iat exp`, and `org` for agents only.
 */
export async function signAccessToken(
  keys: readonly SigningKey[],
  claims: AccessTokenClaims,
  now: Date,
  { issuer, audience, expiresInSeconds = MAX_TOKEN_LIFETIME_SECONDS }: AccessTokenSigningOptions,
): Promise<SignedToken> {
  if (claims.subjectType === 'human' && 'orgId' in claims) {
    throw new TokenSigningRefusedError('Refusing to sign an access token: a human token is not bound to an org.');
  }
  const wire = toWireClaims(claims);
  const checked = fromWireClaims(wire);
  if (typeof checked === 'string') throw new TokenSigningRefusedError(`Refusing to sign an access token: ${checked}.`);
  const { sub: _sub, ...privateClaims } = wire;
  return signJwt(keys, now, { typ: ACCESS_TOKEN_TYP, issuer, audience, subject: claims.subject, expiresInSeconds, claims: privateClaims });
}

export type { SignedToken };
