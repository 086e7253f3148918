import type { NewEvent } from '@bastion/domain';
import type { PoolClient } from 'pg';
import type { KmsProvider } from '../kms';
import { OrgKeyConcurrentChangeError, OrgKeyMissingError, OrgKeyRevokedError } from './org-key-errors';
import type { OrgKeyCreated, OrgKeyRestored, OrgKeyRevoked, OrgKeyRewrapped } from './org-key.events';

/** One DEK version of an organisation as stored: wrapped only (migrations/0011_org-keys.sql). */
export interface WrappedOrgKey {
  readonly orgId: string;
  readonly version: number;
  readonly keyRef: string;
  readonly provider: KmsProvider;
  /** Null once the DEK was destroyed (crypto-shredding). */
  readonly wrapped: Buffer | null;
  /** The org's emergency stop: while true, nothing may unwrap this key. */
  readonly revoked: boolean;
  readonly revokedAt: Date | null;
  readonly createdAt: Date;
  readonly rewrappedAt: Date | null;
  readonly destroyedAt: Date | null;
}

interface Row {
  org_id: string;
  version: number;
  key_ref: string;
  provider: KmsProvider;
  wrapped: Buffer | null;
  revoked: boolean;
  revoked_at: Date | null;
  created_at: Date;
  rewrapped_at: Date | null;
  destroyed_at: Date | null;
}

function toKey(row: Row | undefined): WrappedOrgKey | null {
  if (row === undefined) return null;
  return {
    orgId: row.org_id,
    version: row.version,
    keyRef: row.key_ref,
    provider: row.provider,
    wrapped: row.wrapped,
    revoked: row.revoked,
    revokedAt: row.revoked_at,
    createdAt: row.created_at,
    rewrappedAt: row.rewrapped_at,
    destroyedAt: row.destroyed_at,
  };
}

/**
 * The org key table through its definer functions, inside the caller's transaction (one opened by
 * `authz.begin` for the acting principal and org). Never call the KMS while such a transaction is open: read
 * here, commit, then unwrap (see OrgKeyService).
 *
 * The functions' SQLSTATEs become typed errors here: BA010 → {@link OrgKeyMissingError}, BA011 →
 * {@link OrgKeyRevokedError}, 40001 on a rewrap → {@link OrgKeyConcurrentChangeError}. Refusals (42501) and step-up
 * (BA001) pass through unchanged, as for every other command.
 */
export class OrgKeyRepository {
  constructor(private readonly tx: PoolClient) {}

  /** The request org's current DEK (or `version`), wrapped; null when there is none. Any principal of the org. */
  async read(orgId: string, version: number | null = null): Promise<WrappedOrgKey | null> {
    const { rows } = await this.tx.query<Row>('select * from authz.org_data_key($1, $2)', [orgId, version]);
    return toKey(rows[0]);
  }

  /** The same, after checking org:security and a fresh MFA verification: before a change of its wrapping. */
  async readForChange(orgId: string): Promise<WrappedOrgKey | null> {
    const { rows } = await this.tx.query<Row>('select * from authz.org_data_key_for_change($1)', [orgId]);
    return toKey(rows[0]);
  }

  /** Stores the org's first DEK; false (nothing appended) when one exists already. */
  async storeFirst(input: {
    orgId: string;
    version: number;
    keyRef: string;
    provider: KmsProvider;
    wrapped: Buffer;
    event: NewEvent<OrgKeyCreated>;
  }): Promise<boolean> {
    const { rows } = await this.tx.query<{ ok: boolean }>('select authz.store_first_org_data_key($1, $2, $3, $4, $5, $6) as ok', [
      input.orgId,
      input.version,
      input.keyRef,
      input.provider,
      input.wrapped,
      input.event,
    ]);
    return rows[0]!.ok;
  }

  /** Replaces the wrapping of `expected` (compare-and-swap on its reference and bytes); the old wrapping is gone. */
  async rewrap(input: {
    expected: WrappedOrgKey;
    keyRef: string;
    provider: KmsProvider;
    wrapped: Buffer;
    event: NewEvent<OrgKeyRewrapped>;
  }): Promise<void> {
    const { expected } = input;
    await this.#mapped(expected.orgId, expected.keyRef, () =>
      this.tx.query('select authz.rewrap_org_data_key($1, $2, $3, $4, $5, $6, $7, $8)', [
        expected.orgId,
        expected.version,
        expected.keyRef,
        expected.wrapped,
        input.keyRef,
        input.provider,
        input.wrapped,
        input.event,
      ]),
    );
  }

  /** The emergency stop; false when it was already pulled. */
  async revoke(orgId: string, event: NewEvent<OrgKeyRevoked>): Promise<boolean> {
    return this.#mapped(orgId, '', async () => {
      const { rows } = await this.tx.query<{ ok: boolean }>('select authz.revoke_org_key($1, $2) as ok', [orgId, event]);
      return rows[0]!.ok;
    });
  }

  /** Lifts the emergency stop; false when it was not pulled. */
  async restore(orgId: string, event: NewEvent<OrgKeyRestored>): Promise<boolean> {
    return this.#mapped(orgId, '', async () => {
      const { rows } = await this.tx.query<{ ok: boolean }>('select authz.restore_org_key($1, $2) as ok', [orgId, event]);
      return rows[0]!.ok;
    });
  }

  async #mapped<T>(orgId: string, keyRef: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      switch ((error as { code?: string }).code) {
        case 'BA010':
          throw new OrgKeyMissingError(orgId);
        case 'BA011':
          throw new OrgKeyRevokedError(orgId, keyRef);
        case '40001':
          throw new OrgKeyConcurrentChangeError(orgId);
        default:
          throw error;
      }
    }
  }
}
