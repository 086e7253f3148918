/**
 * Failures of field decryption, one class each with a stable `code`. Messages never contain a token, a key or
 * plaintext; the AAD's parts (org, record and field ids) are not secrets and may appear.
 */

/** Not a field token this code writes (wrong shape, version or encoding). */
export class FieldTokenMalformedError extends Error {
  override readonly name = 'FieldTokenMalformedError';
  readonly code = 'ENVELOPE.MALFORMED' as const;
}

/** The token was sealed under another key version than the DEK offered; the caller fetched the wrong DEK. */
export class FieldKeyVersionMismatchError extends Error {
  override readonly name = 'FieldKeyVersionMismatchError';
  readonly code = 'ENVELOPE.KEY_VERSION_MISMATCH' as const;
  constructor(
    readonly tokenKeyVersion: number,
    readonly dataKeyVersion: number,
  ) {
    super(`Token was sealed under key version ${tokenKeyVersion}, not ${dataKeyVersion}.`);
  }
}

/**
 * The token does not open with this DEK and AAD: it belongs to another org, record or field, was altered, or the
 * DEK is not the one that sealed it. Indistinguishable by design, so nothing tells an attacker which.
 */
export class FieldIntegrityError extends Error {
  override readonly name = 'FieldIntegrityError';
  readonly code = 'ENVELOPE.INTEGRITY' as const;
}

export type EnvelopeError = FieldTokenMalformedError | FieldKeyVersionMismatchError | FieldIntegrityError;
export type EnvelopeErrorCode = EnvelopeError['code'];
