/**
 * The numbers every part of the token service agrees on. They live together because key retention is derived
 * from them: a retired key stays published for as long as any token it signed can still pass verification.
 */

/** The only signature algorithm we make or accept (DESIGN §5). */
export const SIGNING_ALGORITHM = 'RS256';

export const ACCESS_TOKEN_TYP = 'at+jwt';

/**
 * Default lifetime of an access token and the ceiling for every token we sign: retiring and removing keys is
 * only safe because no token signed by a key outlives this.
 */
export const MAX_TOKEN_LIFETIME_SECONDS = 600;

/** Tolerated drift between the clock that signed and the clock that verifies. */
export const CLOCK_TOLERANCE_SECONDS = 5;

/** How long a retired key stays in the JWKS and in the verifier's key set. */
export const RETIRED_KEY_RETENTION_SECONDS = MAX_TOKEN_LIFETIME_SECONDS + CLOCK_TOLERANCE_SECONDS;

/** Default hand-over time between publishing a new key and signing with it (see rotate-signing-keys.ts). */
export const DEFAULT_PUBLISH_LEAD_SECONDS = 300;

export const RSA_MODULUS_BITS = 2048;

/** `typ` is a media type: case-insensitive, and `application/` may be left out (RFC 7515 §4.1.9). */
export function normalizeTyp(typ: string): string {
  const lower = typ.toLowerCase();
  return lower.includes('/') ? lower : `application/${lower}`;
}

export const epochSeconds = (date: Date): number => Math.floor(date.getTime() / 1000);
