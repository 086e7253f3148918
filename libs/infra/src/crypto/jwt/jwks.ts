import { publishedSigningKeys, type RsaPublicJwk, type SigningKey } from './signing-keys';

export interface JsonWebKeySet {
  keys: RsaPublicJwk[];
}

/**
 * The document at `/.well-known/jwks.json`: every published key, newest first. Each entry is built member by
 * member from the public half, never copied from a key object, so no private member can slip into it.
 */
export function publicJwks(keys: readonly SigningKey[], now: Date): JsonWebKeySet {
  return {
    keys: publishedSigningKeys(keys, now)
      .sort((a, b) => b.signsFrom.getTime() - a.signsFrom.getTime())
      .map(({ kid, publicJwk: { n, e } }) => ({ kty: 'RSA', n, e, kid, alg: 'RS256', use: 'sig' })),
  };
}
