import { createHash } from 'node:crypto';
import { errors, jwtVerify, type JWTHeaderParameters } from 'jose';
import { fromWireClaims, isUuid, type AccessTokenPrincipal } from './access-token-claims';
import { AccessTokenInvalidError, type AccessTokenInvalidCode } from './jwt-errors';
import { publishedSigningKeys, type RsaPublicJwk, type SigningKeyProvider } from './signing-keys';
import { VerifiedTokenCache } from './verified-token-cache';
import {
  ACCESS_TOKEN_TYP,
  CLOCK_TOLERANCE_SECONDS,
  epochSeconds,
  MAX_TOKEN_LIFETIME_SECONDS,
  normalizeTyp,
  SIGNING_ALGORITHM,
} from './token-policy';

export interface AccessTokenVerifierOptions {
  keys: SigningKeyProvider;
  issuer: string;
  audience: string;
  clock?: () => Date;
  /** Verified tokens kept; 0 turns the cache off. */
  cacheSize?: number;
}

/** Far above any token we sign; stops a megabyte "token" from being hashed and parsed. */
const MAX_TOKEN_LENGTH = 8192;

/** Every header parameter our tokens carry. Anything else is refused before a key is looked up. */
const ACCEPTED_HEADER = new Set(['alg', 'kid', 'typ']);

/**
 * Parameters that would let the token choose its own key (`jku`, `x5u`, `x5c`, `jwk`) or make us skip a check
 * we do not understand (`crit`). Named in the log; other unexpected parameters are only counted, since the names
 * are the attacker's text.
 */
const KEY_CHOOSING_HEADER = ['jku', 'x5u', 'x5c', 'jwk', 'crit'];

const EXPECTED_TYP = normalizeTyp(ACCESS_TOKEN_TYP);

const invalid = (code: AccessTokenInvalidCode, reason: string, cause?: unknown) =>
  new AccessTokenInvalidError(code, reason, cause === undefined ? undefined : { cause });

/**
 * Verifies access tokens (DESIGN §5) against our own key set only: RS256 only, `typ: at+jwt` only, `iss`, `aud`,
 * `exp`, `nbf` and `iat` checked with a small clock tolerance, claims checked by the same rules that sign them.
 * Every refusal is an {@link AccessTokenInvalidError} whose `code` names the rule.
 */
export class AccessTokenVerifier {
  readonly #keys: SigningKeyProvider;
  readonly #issuer: string;
  readonly #audience: string;
  readonly #clock: () => Date;
  readonly #cache: VerifiedTokenCache<AccessTokenPrincipal>;

  constructor({ keys, issuer, audience, clock = () => new Date(), cacheSize = 10_000 }: AccessTokenVerifierOptions) {
    this.#keys = keys;
    this.#issuer = issuer;
    this.#audience = audience;
    this.#clock = clock;
    this.#cache = new VerifiedTokenCache(cacheSize);
  }

  /** How many verified tokens are cached (never more than `cacheSize`). */
  get cachedTokens(): number {
    return this.#cache.size;
  }

  async verify(token: string): Promise<AccessTokenPrincipal> {
    if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
      throw invalid('JWT.MALFORMED', 'not a token of a plausible length');
    }
    const now = this.#clock();
    const cacheKey = createHash('sha256').update(token).digest('base64url');
    const cached = this.#cache.get(cacheKey, now.getTime());
    if (cached !== undefined) {
      // A key removed from the set (say, after a compromise) takes its cached tokens with it.
      if (this.#publishedKey(cached.kid, now)) return copyOf(cached.value);
      this.#cache.delete(cacheKey);
    }

    const header = screenProtectedHeader(token);
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, (protectedHeader: JWTHeaderParameters) => this.#resolveKey(protectedHeader, now), {
        algorithms: [SIGNING_ALGORITHM],
        typ: ACCESS_TOKEN_TYP,
        issuer: this.#issuer,
        audience: this.#audience,
        // Not configurable: key retention (token-policy.ts) is computed with this tolerance.
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        currentDate: now,
        requiredClaims: ['exp', 'iat', 'jti', 'sub'],
      }));
    } catch (error) {
      throw fromJoseError(error);
    }

    const principal = this.#principalFrom(payload, now);
    this.#cache.set(cacheKey, { value: principal, kid: header.kid, expiresAtMs: principal.expiresAt.getTime() }, now.getTime());
    return copyOf(principal);
  }

  #publishedKey(kid: string, now: Date): RsaPublicJwk | undefined {
    return publishedSigningKeys(this.#keys.signingKeys(), now).find((key) => key.kid === kid)?.publicJwk;
  }

  /** The key resolver handed to jose: our published keys, nothing a token can point to. */
  #resolveKey({ kid }: JWTHeaderParameters, now: Date): RsaPublicJwk {
    const key = typeof kid === 'string' ? this.#publishedKey(kid, now) : undefined;
    if (key === undefined) throw invalid('JWT.KID_UNKNOWN', 'no published key has this kid');
    return key;
  }

  #principalFrom(payload: Readonly<Record<string, unknown>>, now: Date): AccessTokenPrincipal {
    // jose has checked that exp and iat are numbers and exp has not passed.
    const { iat, exp, jti } = payload as { iat: number; exp: number; jti: unknown };
    // Our tokens carry no nbf; iat is when they become valid.
    if (iat > epochSeconds(now) + CLOCK_TOLERANCE_SECONDS) throw invalid('JWT.NOT_YET_VALID', '"iat" lies in the future');
    if (exp <= iat || exp - iat > MAX_TOKEN_LIFETIME_SECONDS) throw invalid('JWT.CLAIMS', 'lifetime outside what we sign');
    if (!isUuid(jti)) throw invalid('JWT.CLAIMS', '"jti" is not a UUID');
    const claims = fromWireClaims(payload);
    if (typeof claims === 'string') throw invalid('JWT.CLAIMS', claims);
    return Object.freeze({ ...claims, jti, expiresAt: new Date(exp * 1000) });
  }
}

/**
 * Checks the protected header before any key is looked up or any signature computed: a token that tries to name
 * its own key, or is of another algorithm or type, is refused on sight.
 */
function screenProtectedHeader(token: string): { kid: string } {
  const parts = token.split('.');
  if (parts.length !== 3 || !/^[A-Za-z0-9_-]+$/.test(parts[0]!)) throw invalid('JWT.MALFORMED', 'not a compact JWS');
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8'));
  } catch {
    throw invalid('JWT.MALFORMED', 'the protected header is not JSON');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw invalid('JWT.MALFORMED', 'the protected header is not a JSON object');
  }
  const names = Object.keys(header);
  const unexpected = names.filter((name) => !ACCEPTED_HEADER.has(name));
  if (unexpected.length > 0) {
    const named = unexpected.filter((name) => KEY_CHOOSING_HEADER.includes(name));
    const others = unexpected.length - named.length;
    throw invalid('JWT.FORBIDDEN_HEADER', `the header carries ${[...named, ...(others ? [`${others} unexpected parameter(s)`] : [])].join(', ')}`);
  }
  const { alg, typ, kid } = header as Record<string, unknown>;
  if (alg !== SIGNING_ALGORITHM) throw invalid('JWT.ALG', `"alg" is not ${SIGNING_ALGORITHM}`);
  if (typeof typ !== 'string' || normalizeTyp(typ) !== EXPECTED_TYP) throw invalid('JWT.TYP', `"typ" is not ${ACCESS_TOKEN_TYP}`);
  if (typeof kid !== 'string') throw invalid('JWT.KID_UNKNOWN', 'the header names no "kid"');
  return { kid };
}

function fromJoseError(error: unknown): unknown {
  if (error instanceof AccessTokenInvalidError || !(error instanceof errors.JOSEError)) return error;
  if (error instanceof errors.JWTExpired) return invalid('JWT.EXPIRED', 'the token has expired', error);
  if (error instanceof errors.JWTClaimValidationFailed) {
    switch (error.claim) {
      case 'typ':
        return invalid('JWT.TYP', `"typ" is not ${ACCESS_TOKEN_TYP}`, error);
      case 'iss':
        return invalid('JWT.ISSUER', error.reason === 'missing' ? 'no "iss"' : '"iss" is not ours', error);
      case 'aud':
        return invalid('JWT.AUDIENCE', error.reason === 'missing' ? 'no "aud"' : '"aud" is not ours', error);
      case 'nbf':
        if (error.reason === 'check_failed') return invalid('JWT.NOT_YET_VALID', '"nbf" lies in the future', error);
        break;
    }
    return invalid('JWT.CLAIMS', `"${error.claim}" is ${error.reason === 'missing' ? 'missing' : 'invalid'}`, error);
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return invalid('JWT.SIGNATURE', 'the signature does not verify', error);
  if (error instanceof errors.JOSEAlgNotAllowed) return invalid('JWT.ALG', `"alg" is not ${SIGNING_ALGORITHM}`, error);
  return invalid('JWT.MALFORMED', 'not a well-formed JWT', error);
}

/** Callers get their own copy: a cached principal is shared, and a `Date` cannot be frozen. */
function copyOf(principal: AccessTokenPrincipal): AccessTokenPrincipal {
  return { ...principal, expiresAt: new Date(principal.expiresAt.getTime()) };
}
