/**
 * Every failure of the Fernet module, one class each, with a stable `code` for logs and metrics. Messages never
 * contain a key, a token or a plaintext. Callers that only need "this ciphertext is unusable" catch
 * {@link FernetError}; the codes separate a forged or corrupted token from one that is merely too old.
 */
export type FernetErrorCode =
  | 'FERNET.INVALID_KEY'
  | 'FERNET.INVALID_TOKEN'
  | 'FERNET.TOKEN_EXPIRED'
  | 'FERNET.TOKEN_FROM_FUTURE'
  | 'FERNET.INVALID_OPTION';

export abstract class FernetError extends Error {
  abstract readonly code: FernetErrorCode;
}

/** A key that is not 32 bytes, or not in Fernet's text form (URL-safe base64 with padding). */
export class FernetInvalidKeyError extends FernetError {
  override readonly name = 'FernetInvalidKeyError';
  readonly code = 'FERNET.INVALID_KEY';
  constructor(reason: string) {
    super(`FERNET.INVALID_KEY: ${reason}`);
  }
}

/**
 * Malformed, of another version, forged, corrupted, or made with a key we do not hold. Padding is checked only
 * after the HMAC, so the reason never works as a padding oracle.
 */
export class FernetInvalidTokenError extends FernetError {
  override readonly name = 'FernetInvalidTokenError';
  readonly code = 'FERNET.INVALID_TOKEN';
  constructor(reason: string) {
    super(`FERNET.INVALID_TOKEN: ${reason}`);
  }
}

/** Authentic, but older than the `ttlSeconds` the caller asked for. */
export class FernetTokenExpiredError extends FernetError {
  override readonly name = 'FernetTokenExpiredError';
  readonly code = 'FERNET.TOKEN_EXPIRED';
  constructor() {
    super('FERNET.TOKEN_EXPIRED: the token is older than the allowed age');
  }
}

/** Authentic, but stamped more than the allowed clock skew ahead of our clock (checked only with a ttl). */
export class FernetTokenFromFutureError extends FernetError {
  override readonly name = 'FernetTokenFromFutureError';
  readonly code = 'FERNET.TOKEN_FROM_FUTURE';
  constructor() {
    super('FERNET.TOKEN_FROM_FUTURE: the token was issued too far in the future');
  }
}

/** A caller's option is out of range (a ttl, an IV, a time, an empty key list). */
export class FernetInvalidOptionError extends FernetError {
  override readonly name = 'FernetInvalidOptionError';
  readonly code = 'FERNET.INVALID_OPTION';
  constructor(reason: string) {
    super(`FERNET.INVALID_OPTION: ${reason}`);
  }
}
