/**
 * Failures of the audit trail's own code, one class each, with a stable `code`. A failed *verification* of an
 * export or a checkpoint is not an error but a result (verify-export.ts, checkpoint.ts): finding tampering is what
 * the verifier is for.
 */

export type AuditErrorCode =
  | 'AUDIT.NOT_CANONICAL_JSON'
  | 'AUDIT.STORED_EVENT_INVALID'
  | 'AUDIT.CHAIN_MISMATCH'
  | 'AUDIT.KEY_UNUSABLE'
  | 'AUDIT.KEY_FILE_EXPOSED'
  | 'AUDIT.KEY_FILE_INVALID'
  | 'AUDIT.CHECKPOINT_REFUSED';

abstract class AuditError extends Error {
  abstract readonly code: AuditErrorCode;
}

/** A value outside the JSON data model RFC 8785 covers (a lone surrogate, NaN, `undefined`, a Date…). */
export class NotCanonicalJsonError extends AuditError {
  override readonly name = 'NotCanonicalJsonError';
  readonly code = 'AUDIT.NOT_CANONICAL_JSON';
  constructor(
    /** Where in the value, as `$`, `$.data.items[3]`. */
    readonly path: string,
    reason: string,
  ) {
    super(`${path}: ${reason}`);
  }
}

/** An events-table row that cannot be put into canonical form (a non-decimal position, an unreadable timestamp…). */
export class StoredEventInvalidError extends AuditError {
  override readonly name = 'StoredEventInvalidError';
  readonly code = 'AUDIT.STORED_EVENT_INVALID';
  constructor(
    readonly field: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${field}: ${reason}`, options);
  }
}

/** An event handed to a chain it does not belong to, or out of the global order. */
export class ChainMismatchError extends AuditError {
  override readonly name = 'ChainMismatchError';
  readonly code = 'AUDIT.CHAIN_MISMATCH';
}

/** A key asked to sign that may not: no private half, retired, or not an Ed25519 key. */
export class AuditKeyUnusableError extends AuditError {
  override readonly name = 'AuditKeyUnusableError';
  readonly code = 'AUDIT.KEY_UNUSABLE';
}

/** An audit key file that other users of the machine could read or replace. */
export class AuditKeyFileExposedError extends AuditError {
  override readonly name = 'AuditKeyFileExposedError';
  readonly code = 'AUDIT.KEY_FILE_EXPOSED';
}

/** An audit key file that is not one: not JSON, wrong shape, a symbolic link, or a `kid` that is not its key's. */
export class AuditKeyFileInvalidError extends AuditError {
  override readonly name = 'AuditKeyFileInvalidError';
  readonly code = 'AUDIT.KEY_FILE_INVALID';
}

/**
 * The sealer would not sign the checkpoint an export asked for: the chain state is not one it sealed (an event was
 * edited or deleted since). The export then ends without its final checkpoint, which the verifier reports.
 */
export class CheckpointRefusedError extends AuditError {
  override readonly name = 'CheckpointRefusedError';
  readonly code = 'AUDIT.CHECKPOINT_REFUSED';
}
