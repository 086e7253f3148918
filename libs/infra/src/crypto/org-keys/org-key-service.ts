import { timingSafeEqual } from 'node:crypto';
import type { PoolClient } from 'pg';
import {
  DataKey,
  DataKeyCache,
  decryptField,
  encryptField,
  fieldTokenKeyVersion,
  generateDataKey,
} from '../envelope';
import { KeyRefInvalidError, KeyRevokedError, KeyState, KeyUnavailableError, KmsIntegrityError, KmsProvider } from '../kms';
import { KmsRouter } from './kms-router';
import { OrgKeyConcurrentChangeError, OrgKeyMissingError, OrgKeyRevokedError, TargetKeyUnusableError } from './org-key-errors';
import type { OrgKeyEvictions } from './org-key-evictions';
import type { StampOrgKeyEvent } from './org-key.events';
import { OrgKeyRepository, type WrappedOrgKey } from './org-key.repository';

/**
 * Runs `work` in one short transaction as the acting principal, scoped to the org — in the API,
 * `(work) => db.inOrg(principal, orgId, requirement, work)`. The service opens as many as it needs and never
 * calls the KMS while one is open (DESIGN §3: an open transaction stalls every event subscriber).
 */
export type Transact = <T>(work: (tx: PoolClient) => Promise<T>) => Promise<T>;

/** The platform's own wrapping key for orgs that have not brought theirs, in the local KMS. */
export const DEFAULT_PLATFORM_KEY_REF = 'local://platform';
const FIRST_VERSION = 1;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The AAD every wrapping of an org's DEK is bound to: a wrapped DEK copied into another org's row, or presented
 * as another version, does not unwrap. Pinned: changing it makes every stored DEK unreadable.
 */
export function orgKeyWrappingAad(orgId: string, version: number): Buffer {
  return Buffer.from(`bastion/org-dek/v1\0${orgId.toLowerCase()}\0${version}`, 'utf8');
}

/** What the KMS says of the key an org's DEK is wrapped under, or why it cannot say. */
export type OrgKeyKmsState = KeyState | 'not-found' | 'permission-denied' | 'unreachable' | 'not-configured' | 'none';

export interface OrgKeyStatus {
  readonly orgId: string;
  /** The key reference the current DEK is wrapped under; null when the org has no DEK yet. */
  readonly keyRef: string | null;
  readonly provider: KmsProvider | null;
  readonly version: number | null;
  /** The KMS's view of that key (`none` when the org has no DEK). */
  readonly state: OrgKeyKmsState;
  /** Bastion's emergency stop. */
  readonly revoked: boolean;
  readonly revokedAt: Date | null;
  readonly createdAt: Date | null;
  readonly rewrappedAt: Date | null;
}

export interface OrgKeyServiceOptions {
  readonly kms: KmsRouter;
  /** Wraps the DEK of every org that has not moved to its own key. Default `local://platform` (created if absent). */
  readonly platformKeyRef?: string;
  /** Plaintext DEKs in memory; default a new cache of `ttlSeconds`. */
  readonly cache?: DataKeyCache;
  /** Used only when `cache` is not given. Default 30 (DESIGN §9); 0 caches nothing. */
  readonly ttlSeconds?: number;
  /**
   * Cross-process eviction (Redis pub/sub). Without it the service caches as if it were the only process — fine
   * for a CLI or a test, wrong for a deployment with several processes.
   */
  readonly evictions?: OrgKeyEvictions;
  /** Told about failures that must not fail the caller (publishing an eviction after a committed revoke). */
  readonly onError?: (error: unknown, what: string) => void;
}

/**
 * Per-organisation DEK management (DESIGN §9): envelope encryption with BYOK, the emergency stop, and the
 * destruction of the platform-wrapped copy when an org moves to its own key.
 *
 * Two shapes, for the one rule that no transaction stays open across a KMS call:
 * - inside the caller's own transaction, only database work: {@link wrappedKey} reads the wrapped DEK and refuses
 *   a revoked one; after commit, {@link unwrapFor} unwraps it (cached), then {@link encryptField} /
 *   {@link decryptField} need no I/O at all;
 * - everything else takes a {@link Transact} and opens short transactions itself, with the KMS calls between them.
 *
 * A command that stores an encrypted field therefore gets its DEK first (`dataKeyFor`), then opens its transaction
 * and seals the field there (`encryptField(dek, …)`), never the other way round.
 */
export class OrgKeyService {
  readonly cache: DataKeyCache;
  readonly platformKeyRef: string;
  readonly #kms: KmsRouter;
  readonly #evictions: OrgKeyEvictions | undefined;
  readonly #onError: (error: unknown, what: string) => void;

  constructor(options: OrgKeyServiceOptions) {
    this.#kms = options.kms;
    this.platformKeyRef = options.platformKeyRef ?? DEFAULT_PLATFORM_KEY_REF;
    this.#kms.assertWrappingKeyRef(this.platformKeyRef);
    this.cache = options.cache ?? new DataKeyCache(options.ttlSeconds === undefined ? {} : { ttlSeconds: options.ttlSeconds });
    this.#evictions = options.evictions;
    this.#onError = options.onError ?? (() => undefined);
  }

  // ——— inside the caller's transaction: database only ———

  /**
   * The org's current DEK (or `version`), wrapped, read in the caller's transaction. Refuses with
   * {@link OrgKeyRevokedError} while the org's emergency stop is pulled, {@link KeyRevokedError} once the DEK is
   * destroyed, {@link OrgKeyMissingError} when there is none.
   */
  async wrappedKey(tx: PoolClient, orgId: string, version: number | null = null): Promise<WrappedOrgKey> {
    const org = normalizeOrgId(orgId);
    const key = await new OrgKeyRepository(tx).read(org, version);
    if (key === null) throw new OrgKeyMissingError(org, version);
    assertUsable(key);
    return key;
  }

  // ——— outside any transaction ———

  /**
   * The plaintext DEK of a row read by {@link wrappedKey}: from the cache, or unwrapped by the KMS (which may say
   * the org's own key is revoked: {@link KeyRevokedError}). Call it after the transaction that read the row ended.
   */
  async unwrapFor(orgId: string, key: WrappedOrgKey): Promise<DataKey> {
    const org = normalizeOrgId(orgId);
    if (key.orgId !== org) throw new RangeError(`A data key of organisation ${key.orgId} was offered for ${org}.`);
    assertUsable(key);
    const wrapped = key.wrapped!;
    const load = async (): Promise<DataKey> => ({
      version: key.version,
      key: await this.#kms.unwrap(key.keyRef, wrapped, orgKeyWrappingAad(org, key.version)),
    });
    if (this.#evictions !== undefined && !this.#evictions.live) {
      // Deaf to evictions: nothing may be served from memory or put there until the subscription is back.
      this.cache.evictAll();
      return load();
    }
    return this.cache.getOrLoad(org, key.version, load);
  }

  // ——— conveniences: short transactions through `transact`, the KMS between them ———

  /** The org's current DEK (or `version`) in plaintext: read in one transaction, unwrapped after it. */
  async dataKeyFor(transact: Transact, orgId: string, version: number | null = null): Promise<DataKey> {
    const key = await transact((tx) => this.wrappedKey(tx, orgId, version));
    return this.unwrapFor(orgId, key);
  }

  /**
   * The org's current DEK, created on first use: a fresh DEK wrapped under the platform key and stored (the
   * caller holds org:security — the org's Admin at org creation). A concurrent first use that wins is read back.
   */
  async ensureDataKey(transact: Transact, orgId: string, stamp: StampOrgKeyEvent): Promise<DataKey> {
    const org = normalizeOrgId(orgId);
    const existing = await transact((tx) => new OrgKeyRepository(tx).read(org));
    if (existing !== null) return this.unwrapFor(org, existing);
    await this.#kms.ensureLocalKey(this.platformKeyRef);
    const dataKey = generateDataKey(FIRST_VERSION);
    const provider = KmsRouter.providerOf(this.platformKeyRef);
    const wrapped = await this.#kms.wrap(this.platformKeyRef, dataKey.key, orgKeyWrappingAad(org, FIRST_VERSION));
    const event = stamp({
      type: 'OrgKeyCreated',
      data: { orgId: org, version: FIRST_VERSION, keyRef: this.platformKeyRef, provider },
    });
    const stored = await transact((tx) =>
      new OrgKeyRepository(tx).storeFirst({ orgId: org, version: FIRST_VERSION, keyRef: this.platformKeyRef, provider, wrapped, event }),
    );
    if (!stored) return this.dataKeyFor(transact, org);
    return dataKey;
  }

  /** Seals one field under the org's current DEK, bound to org, record and field. */
  async encryptFieldFor(transact: Transact, orgId: string, record: string, field: string, plaintext: string): Promise<string> {
    const org = normalizeOrgId(orgId);
    const dataKey = await this.dataKeyFor(transact, org);
    return encryptField(dataKey, plaintext, { orgId: org, record, field });
  }

  /** Opens a field token with the DEK version it names; fails closed (`KeyRevokedError`) when the key is withdrawn. */
  async decryptFieldFor(transact: Transact, orgId: string, record: string, field: string, token: string): Promise<string> {
    const org = normalizeOrgId(orgId);
    const dataKey = await this.dataKeyFor(transact, org, fieldTokenKeyVersion(token));
    return decryptField(dataKey, token, { orgId: org, record, field });
  }

  /**
   * Moves the org's DEK under `keyRef` (its own key: BYOK), needing org:security and a fresh MFA verification,
   * checked before any KMS call. The DEK itself does not change, so no data is re-encrypted; its previous wrapping
   * — the platform-wrapped copy — is overwritten in the same row, so from then on only the org's key opens it.
   *
   * Before anything is replaced the new wrapping is unwrapped again and compared, so a key Bastion may encrypt
   * with but not decrypt with is refused ({@link TargetKeyUnusableError}) instead of locking the org out. An org
   * without a DEK yet gets one wrapped directly under `keyRef`: no platform copy ever exists.
   *
   * Sequence: transaction 1 reads (and authorises); outside it, unwrap under the old key, wrap and verify under the
   * new one; transaction 2 swaps, compare-and-swap on what was read (a concurrent change fails with
   * {@link OrgKeyConcurrentChangeError}); then every process evicts the org's cached DEK.
   */
  async rewrapTo(transact: Transact, orgId: string, keyRef: string, stamp: StampOrgKeyEvent): Promise<WrappedOrgKey> {
    const org = normalizeOrgId(orgId);
    const provider = this.#kms.assertWrappingKeyRef(keyRef);
    const current = await transact((tx) => new OrgKeyRepository(tx).readForChange(org));
    if (current === null) {
      const dataKey = generateDataKey(FIRST_VERSION);
      const wrapped = await this.#wrapVerified(keyRef, dataKey.key, orgKeyWrappingAad(org, FIRST_VERSION));
      const event = stamp({ type: 'OrgKeyCreated', data: { orgId: org, version: FIRST_VERSION, keyRef, provider } });
      const stored = await transact((tx) =>
        new OrgKeyRepository(tx).storeFirst({ orgId: org, version: FIRST_VERSION, keyRef, provider, wrapped, event }),
      );
      if (!stored) throw new OrgKeyConcurrentChangeError(org);
      return this.#readBack(transact, org);
    }
    assertUsable(current);
    const aad = orgKeyWrappingAad(org, current.version);
    // Straight from the KMS, not the cache: the old wrapping must be proven to open before it is replaced.
    const dek = await this.#kms.unwrap(current.keyRef, current.wrapped!, aad);
    const wrapped = await this.#wrapVerified(keyRef, dek, aad);
    const event = stamp({
      type: 'OrgKeyRewrapped',
      data: { orgId: org, version: current.version, keyRef, provider, previousKeyRef: current.keyRef, previousProvider: current.provider },
    });
    await transact((tx) => new OrgKeyRepository(tx).rewrap({ expected: current, keyRef, provider, wrapped, event }));
    await this.evict(org);
    return this.#readBack(transact, org);
  }

  /**
   * The emergency stop (org:security, step-up): from the commit on, no DEK of the org is handed out, and every
   * process forgets the ones it holds. False when it was already pulled (nothing appended).
   */
  async revoke(transact: Transact, orgId: string, stamp: StampOrgKeyEvent): Promise<boolean> {
    const org = normalizeOrgId(orgId);
    const event = stamp({ type: 'OrgKeyRevoked', data: { orgId: org } });
    const changed = await transact((tx) => new OrgKeyRepository(tx).revoke(org, event));
    await this.evict(org);
    return changed;
  }

  /** Lifts the emergency stop (org:security, step-up). False when it was not pulled. */
  async restore(transact: Transact, orgId: string, stamp: StampOrgKeyEvent): Promise<boolean> {
    const org = normalizeOrgId(orgId);
    const event = stamp({ type: 'OrgKeyRestored', data: { orgId: org } });
    return transact((tx) => new OrgKeyRepository(tx).restore(org, event));
  }

  /** Where the org's DEK stands: its key reference and provider, what the KMS says of that key, the emergency stop. */
  async status(transact: Transact, orgId: string): Promise<OrgKeyStatus> {
    const org = normalizeOrgId(orgId);
    const key = await transact((tx) => new OrgKeyRepository(tx).read(org));
    if (key === null) {
      return { orgId: org, keyRef: null, provider: null, version: null, state: 'none', revoked: false, revokedAt: null, createdAt: null, rewrappedAt: null };
    }
    return {
      orgId: org,
      keyRef: key.keyRef,
      provider: key.provider,
      version: key.version,
      state: key.wrapped === null ? 'destroyed' : await this.#kmsState(key.keyRef),
      revoked: key.revoked,
      revokedAt: key.revokedAt,
      createdAt: key.createdAt,
      rewrappedAt: key.rewrappedAt,
    };
  }

  /**
   * Forgets the org's plaintext DEKs in this process at once and tells every other process to (Redis). A failed
   * publish is reported, not thrown: the change it follows is committed, and Bastion's own revoke is checked
   * against the database on every read anyway.
   */
  async evict(orgId: string): Promise<void> {
    const org = normalizeOrgId(orgId);
    this.cache.evict(org);
    if (this.#evictions === undefined) return;
    try {
      await this.#evictions.publish(org);
    } catch (error) {
      this.#onError(error, 'publish a key eviction');
    }
  }

  async #readBack(transact: Transact, org: string): Promise<WrappedOrgKey> {
    const key = await transact((tx) => new OrgKeyRepository(tx).read(org));
    if (key === null) throw new OrgKeyMissingError(org);
    return key;
  }

  async #wrapVerified(keyRef: string, dek: Buffer, aad: Buffer): Promise<Buffer> {
    let wrapped: Buffer;
    try {
      wrapped = await this.#kms.wrap(keyRef, dek, aad);
    } catch (error) {
      throw targetFailure(keyRef, error, 'wrap');
    }
    let back: Buffer;
    try {
      back = await this.#kms.unwrap(keyRef, wrapped, aad);
    } catch (error) {
      throw targetFailure(keyRef, error, 'unwrap');
    }
    if (back.length !== dek.length || !timingSafeEqual(back, dek)) {
      throw new TargetKeyUnusableError(keyRef, 'it did not give back the key it wrapped');
    }
    return wrapped;
  }

  async #kmsState(keyRef: string): Promise<OrgKeyKmsState> {
    try {
      return (await this.#kms.describe(keyRef)).state;
    } catch (error) {
      if (error instanceof KeyRevokedError) return error.reason;
      if (error instanceof KeyRefInvalidError) return 'not-configured';
      if (error instanceof KeyUnavailableError || error instanceof KmsIntegrityError) return 'unreachable';
      throw error;
    }
  }
}

function normalizeOrgId(orgId: string): string {
  if (!UUID.test(orgId)) throw new RangeError('An organisation id is a UUID.');
  return orgId.toLowerCase();
}

function assertUsable(key: WrappedOrgKey): void {
  if (key.revoked) throw new OrgKeyRevokedError(key.orgId, key.keyRef);
  if (key.wrapped === null) throw new KeyRevokedError(key.keyRef, 'destroyed');
}

/** A failure of the key an org asked to move to. Transient and configuration failures keep their own class. */
function targetFailure(keyRef: string, error: unknown, step: 'wrap' | 'unwrap'): unknown {
  if (!(error instanceof KeyRevokedError)) return error;
  const reasons: Record<KeyRevokedError['reason'], string> = {
    'not-found': 'the KMS has no such key, or does not let Bastion see it',
    'permission-denied':
      step === 'wrap'
        ? "Bastion's service account may not encrypt with it (grant roles/cloudkms.cryptoKeyEncrypterDecrypter)"
        : "Bastion's service account may encrypt but not decrypt with it (grant roles/cloudkms.cryptoKeyEncrypterDecrypter)",
    disabled: 'its primary version is not enabled',
    destroyed: 'it is destroyed',
  };
  return new TargetKeyUnusableError(keyRef, reasons[error.reason], { cause: error });
}
