import { StartupError } from '../../runtime/startup-error';

/**
 * Every failure of the token service, one class each, with a stable `code` for logs and metrics. The HTTP layer
 * answers every {@link AccessTokenInvalidError} with the same bare 401; the code never reaches the caller.
 * Messages never contain a token, a key or a claim value.
 */

export type AccessTokenInvalidCode =
  | 'JWT.MALFORMED'
  | 'JWT.FORBIDDEN_HEADER'
  | 'JWT.ALG'
  | 'JWT.TYP'
  | 'JWT.KID_UNKNOWN'
  | 'JWT.SIGNATURE'
  | 'JWT.EXPIRED'
  | 'JWT.NOT_YET_VALID'
  | 'JWT.ISSUER'
  | 'JWT.AUDIENCE'
  | 'JWT.CLAIMS';

/** A presented access token was refused; `code` says which rule refused it. */
export class AccessTokenInvalidError extends Error {
  override readonly name = 'AccessTokenInvalidError';
  constructor(
    readonly code: AccessTokenInvalidCode,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${code}: ${reason}`, options);
  }
}

/** A caller asked us to sign something we never sign (a reserved claim, a forbidden `typ`, a bad lifetime). */
export class TokenSigningRefusedError extends Error {
  override readonly name = 'TokenSigningRefusedError';
  readonly code = 'JWT.SIGNING_REFUSED' as const;
}

/** No key may sign at this instant (every key is retired, or none signs yet). */
export class NoActiveSigningKeyError extends StartupError {
  override readonly name = 'NoActiveSigningKeyError';
  readonly code = 'KEYS.NO_ACTIVE_KEY' as const;
}

/** Production found no keys, and production never generates one. */
export class NoSigningKeysError extends StartupError {
  override readonly name = 'NoSigningKeysError';
  readonly code = 'KEYS.NONE' as const;
}

/** A key file other users on the machine could read or change. */
export class SigningKeyFileExposedError extends StartupError {
  override readonly name = 'SigningKeyFileExposedError';
  readonly code = 'KEYS.FILE_EXPOSED' as const;
}

/** A key file that is not a key file we wrote (bad JSON, wrong key type or size, `kid` not its thumbprint). */
export class SigningKeyFileInvalidError extends StartupError {
  override readonly name = 'SigningKeyFileInvalidError';
  readonly code = 'KEYS.FILE_INVALID' as const;
}

/** `JWT_SIGNING_KEYS` does not hold what signing-keys-from-env.ts documents. */
export class SigningKeysEnvInvalidError extends StartupError {
  override readonly name = 'SigningKeysEnvInvalidError';
  readonly code = 'KEYS.ENV_INVALID' as const;
}

export type JwtError =
  | AccessTokenInvalidError
  | TokenSigningRefusedError
  | NoActiveSigningKeyError
  | NoSigningKeysError
  | SigningKeyFileExposedError
  | SigningKeyFileInvalidError
  | SigningKeysEnvInvalidError;

/** Every code this module can report. */
export type JwtErrorCode = JwtError['code'];
