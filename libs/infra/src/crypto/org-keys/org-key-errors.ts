import { KeyRevokedError } from '../kms';

/**
 * Failures of the per-org key service, one class each with a stable `code`. Messages name orgs and key references
 * (not secrets), never key material.
 */

/**
 * The organisation pulled its emergency stop in Bastion (`authz.org_key_state.revoked_at`). A
 * {@link KeyRevokedError}, so every caller that maps "the key owner withdrew the key" to a `key-revoked` problem
 * treats both levers alike; `revokedInBastion` tells them apart where it matters (the status page).
 */
export class OrgKeyRevokedError extends KeyRevokedError {
  readonly revokedInBastion = true;
  constructor(
    readonly orgId: string,
    keyRef: string,
  ) {
    super(keyRef, 'disabled');
    this.message = `The data key of organisation ${orgId} is revoked by the organisation.`;
  }
}

/** The organisation has no data key yet (none was created at org creation), or the version asked for does not exist. */
export class OrgKeyMissingError extends Error {
  override readonly name = 'OrgKeyMissingError';
  readonly code = 'ORG_KEY.MISSING' as const;
  constructor(
    readonly orgId: string,
    readonly version: number | null = null,
  ) {
    super(version === null ? `Organisation ${orgId} has no data key.` : `Organisation ${orgId} has no data key version ${version}.`);
  }
}

/**
 * The key an org asked to move to cannot hold its DEK: the KMS refused to wrap under it, or — checked before the
 * old wrapping is destroyed — to unwrap what it just wrapped (e.g. the service account was granted Encrypter but not
 * Decrypter). Nothing was changed. `cause` is the KMS port's error.
 */
export class TargetKeyUnusableError extends Error {
  override readonly name = 'TargetKeyUnusableError';
  readonly code = 'ORG_KEY.TARGET_UNUSABLE' as const;
  constructor(
    readonly keyRef: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`Key ${keyRef} cannot hold the organisation's data key: ${reason}.`, options);
  }
}

/** Another change of the org's key won the race (a concurrent first creation or rewrap); nothing was changed. */
export class OrgKeyConcurrentChangeError extends Error {
  override readonly name = 'OrgKeyConcurrentChangeError';
  readonly code = 'ORG_KEY.CONCURRENT_CHANGE' as const;
  constructor(readonly orgId: string) {
    super(`The data key of organisation ${orgId} was changed concurrently; retry.`);
  }
}

export type OrgKeyError = OrgKeyRevokedError | OrgKeyMissingError | TargetKeyUnusableError | OrgKeyConcurrentChangeError;
