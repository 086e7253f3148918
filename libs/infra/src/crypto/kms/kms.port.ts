/**
 * The KMS port (DESIGN §9): wraps and unwraps each org's data-encryption key under a key the org or the platform
 * controls. Adapters: Google Cloud KMS (`gcp-kms.adapter.ts`) and a local KMS for development and tests
 * (`local-kms.adapter.ts`). Every adapter binds `aad` to the wrapped key, so a wrapped DEK copied to another org's
 * row does not unwrap there.
 *
 * Failures are one class each with a stable `code`. Messages name the key reference (not a secret) and never
 * contain key material, a DEK or AAD bytes.
 */

/** Every DEK is an AES-256 key; anything else handed to `wrap` is a bug in the caller, not a KMS failure. */
export const DEK_BYTES = 32;
/** Google Cloud KMS refuses more than 64 KiB of AAD; the local KMS applies the same limit so both behave alike. */
export const MAX_AAD_BYTES = 64 * 1024;

export type KmsProvider = 'local' | 'gcp';
export type KeyState = 'enabled' | 'disabled' | 'destroyed';

export interface KeyDescription {
  readonly keyRef: string;
  readonly state: KeyState;
  readonly provider: KmsProvider;
}

export interface Kms {
  /** Wraps a 32-byte DEK; the result is opaque and only `unwrap` with the same `keyRef` and `aad` reverses it. */
  wrap(keyRef: string, dek: Buffer, aad: Buffer): Promise<Buffer>;
  unwrap(keyRef: string, wrapped: Buffer, aad: Buffer): Promise<Buffer>;
  describe(keyRef: string): Promise<KeyDescription>;
}

export const KMS = Symbol('Kms');

/** Why a key no longer serves: each is a lever a key owner pulled (or a key that was never there). */
export type KeyRevokedReason = 'disabled' | 'destroyed' | 'permission-denied' | 'not-found';

/**
 * The key owner has withdrawn the key: reads of data under it fail closed (a `key-revoked` problem) until the
 * owner restores it. Never retried: asking again changes nothing and only delays the answer.
 */
export class KeyRevokedError extends Error {
  override readonly name = 'KeyRevokedError';
  readonly code = 'KMS.KEY_REVOKED' as const;
  constructor(
    readonly keyRef: string,
    readonly reason: KeyRevokedReason,
    options?: { cause?: unknown },
  ) {
    super(`Key ${keyRef} is revoked (${reason}).`, options);
  }
}

/** The KMS could not be reached or kept refusing for transient reasons after bounded retries; the key may be fine. */
export class KeyUnavailableError extends Error {
  override readonly name = 'KeyUnavailableError';
  readonly code = 'KMS.KEY_UNAVAILABLE' as const;
  constructor(
    readonly keyRef: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`Key ${keyRef} is unavailable: ${detail}`, options);
  }
}

/**
 * The bytes do not verify: wrong AAD, a tampered or foreign wrapped key, or a checksum that failed in transit. The
 * same inputs will fail again, so it is not retried.
 */
export class KmsIntegrityError extends Error {
  override readonly name = 'KmsIntegrityError';
  readonly code = 'KMS.INTEGRITY' as const;
  constructor(
    readonly keyRef: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`Key ${keyRef}: integrity check failed: ${detail}`, options);
  }
}

/** A key reference that names no key this adapter can use; a configuration error, caught before any network call. */
export class KeyRefInvalidError extends Error {
  override readonly name = 'KeyRefInvalidError';
  readonly code = 'KMS.KEY_REF_INVALID' as const;
  constructor(
    readonly keyRef: string,
    reason: string,
  ) {
    super(`Invalid key reference ${JSON.stringify(keyRef)}: ${reason}`);
  }
}

export type KmsError = KeyRevokedError | KeyUnavailableError | KmsIntegrityError | KeyRefInvalidError;
/** Every code this port can report. */
export type KmsErrorCode = KmsError['code'];

/** Refuses inputs no adapter accepts, the same way for all of them. */
export function assertWrapInputs(dek: Buffer, aad: Buffer): void {
  if (dek.length !== DEK_BYTES) throw new RangeError(`A DEK is ${DEK_BYTES} bytes; got ${dek.length}.`);
  assertAad(aad);
}

export function assertAad(aad: Buffer): void {
  // Empty AAD would leave a wrapped DEK bound to nothing, so it could be moved to another org's row unnoticed.
  if (aad.length === 0) throw new RangeError('AAD must not be empty: it binds a wrapped DEK to its owner.');
  if (aad.length > MAX_AAD_BYTES) throw new RangeError(`AAD is limited to ${MAX_AAD_BYTES} bytes; got ${aad.length}.`);
}
