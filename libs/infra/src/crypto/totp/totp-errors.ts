/**
 * Every failure of the TOTP and recovery-code module, one class each, with a stable `code`. These are faults of
 * the caller or of stored data; a wrong or replayed code from a user is not an error but a refusal
 * ({@link TotpAcceptance}). Messages never contain a secret, a code or a recovery code.
 */
export type TotpErrorCode = 'TOTP.INVALID_SECRET' | 'TOTP.INVALID_ACCOUNT_NAME' | 'TOTP.INVALID_OPTION' | 'RECOVERY_CODE.MALFORMED';

export abstract class TotpError extends Error {
  abstract readonly code: TotpErrorCode;
}

/** A stored secret that is not base32 (upper case, no padding) of 16 to 64 bytes. */
export class TotpInvalidSecretError extends TotpError {
  override readonly name = 'TotpInvalidSecretError';
  readonly code = 'TOTP.INVALID_SECRET';
  constructor() {
    super('TOTP.INVALID_SECRET: the secret is not base32 (upper case, no padding) of 16 to 64 bytes');
  }
}

/** An account name an authenticator app could not show or would split wrongly (empty, a colon, a control character). */
export class TotpInvalidAccountNameError extends TotpError {
  override readonly name = 'TotpInvalidAccountNameError';
  readonly code = 'TOTP.INVALID_ACCOUNT_NAME';
  constructor(reason: string) {
    super(`TOTP.INVALID_ACCOUNT_NAME: ${reason}`);
  }
}

/** An argument out of range: a time, a digit count, a last used step, a key, a count. */
export class TotpInvalidOptionError extends TotpError {
  override readonly name = 'TotpInvalidOptionError';
  readonly code = 'TOTP.INVALID_OPTION';
  constructor(reason: string) {
    super(`TOTP.INVALID_OPTION: ${reason}`);
  }
}

/** Input that cannot be a recovery code whatever its case, spaces or dashes. */
export class RecoveryCodeMalformedError extends TotpError {
  override readonly name = 'RecoveryCodeMalformedError';
  readonly code = 'RECOVERY_CODE.MALFORMED';
  constructor() {
    super('RECOVERY_CODE.MALFORMED: not a recovery code');
  }
}
