import { DataKey, isDataKeyVersion } from './data-key';

/**
 * Plaintext DEKs per org, in memory only and for at most `ttlSeconds` after they were unwrapped (DESIGN §9: 30 s
 * by default, 0 for no cache). That bound is what Bastion promises about revocation in Google Cloud, so the age
 * counts from the unwrap, never from the last use: a busy org still goes back to the KMS every `ttlSeconds`.
 *
 * Expired entries are dropped by a timer as well as on read, so an org nobody reads again does not leave its DEK
 * behind. Evicted keys are not zeroed: a request may still be encrypting with the same Buffer, and zeroing it
 * under that request would seal data under an all-zero key.
 */
export interface DataKeyCacheOptions {
  /** How long a plaintext DEK may stay cached; 0 disables caching. Default 30. */
  readonly ttlSeconds?: number;
  /** Milliseconds since the epoch; tests inject a clock. */
  readonly now?: () => number;
}

export const DEFAULT_DATA_KEY_TTL_SECONDS = 30;

interface Entry {
  readonly dataKey: DataKey;
  readonly expiresAtMs: number;
  readonly timer: NodeJS.Timeout;
}

export class DataKeyCache {
  readonly ttlSeconds: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, Map<number, Entry>>();
  readonly #loading = new Map<string, Map<number, Promise<DataKey>>>();
  // Bumped by every eviction: a load that started before it must not put its (possibly revoked) key back.
  #epoch = 0;

  constructor(options: DataKeyCacheOptions = {}) {
    const ttlSeconds = options.ttlSeconds ?? DEFAULT_DATA_KEY_TTL_SECONDS;
    if (!Number.isFinite(ttlSeconds) || ttlSeconds < 0) throw new RangeError('ttlSeconds must be a finite number ≥ 0');
    this.ttlSeconds = ttlSeconds;
    this.#now = options.now ?? Date.now;
  }

  /** Number of cached DEKs, expired ones not yet swept included. */
  get size(): number {
    let size = 0;
    for (const versions of this.#entries.values()) size += versions.size;
    return size;
  }

  get(orgId: string, version: number): DataKey | undefined {
    const entry = this.#entries.get(orgId)?.get(version);
    if (entry === undefined) return undefined;
    if (this.#now() >= entry.expiresAtMs) {
      this.#drop(orgId, version);
      return undefined;
    }
    return entry.dataKey;
  }

  set(orgId: string, dataKey: DataKey): void {
    if (!isDataKeyVersion(dataKey.version)) throw new RangeError('Invalid DEK version.');
    if (this.ttlSeconds === 0) return;
    this.#drop(orgId, dataKey.version);
    const ttlMs = this.ttlSeconds * 1000;
    const timer = setTimeout(() => this.#drop(orgId, dataKey.version, timer), ttlMs);
    // The cache must not keep a process alive.
    timer.unref();
    let versions = this.#entries.get(orgId);
    if (versions === undefined) this.#entries.set(orgId, (versions = new Map()));
    versions.set(dataKey.version, { dataKey, expiresAtMs: this.#now() + ttlMs, timer });
  }

  /**
   * The cached DEK, or the one `load` unwraps (then cached). Concurrent callers for the same org and version share
   * one load, so a burst of requests after expiry costs one KMS call, not one each.
   */
  getOrLoad(orgId: string, version: number, load: () => Promise<DataKey>): Promise<DataKey> {
    const cached = this.get(orgId, version);
    if (cached !== undefined) return Promise.resolve(cached);
    const pending = this.#loading.get(orgId)?.get(version);
    if (pending !== undefined) return pending;
    const epoch = this.#epoch;
    const loading = load()
      .then((dataKey) => {
        if (dataKey.version !== version) throw new RangeError(`Loaded DEK version ${dataKey.version}, expected ${version}.`);
        if (this.#epoch === epoch) this.set(orgId, dataKey);
        return dataKey;
      })
      .finally(() => {
        const versions = this.#loading.get(orgId);
        if (versions?.get(version) !== loading) return;
        versions.delete(version);
        if (versions.size === 0) this.#loading.delete(orgId);
      });
    let versions = this.#loading.get(orgId);
    if (versions === undefined) this.#loading.set(orgId, (versions = new Map()));
    versions.set(version, loading);
    return loading;
  }

  /** Forgets the org's DEKs at once (its key was revoked or re-wrapped); the next read goes to the KMS. */
  evict(orgId: string): void {
    this.#epoch++;
    this.#loading.delete(orgId);
    for (const version of [...(this.#entries.get(orgId)?.keys() ?? [])]) this.#drop(orgId, version);
  }

  /** Forgets every DEK, e.g. when this process lost its revocation subscription and may have missed an eviction. */
  evictAll(): void {
    this.#epoch++;
    this.#loading.clear();
    for (const [orgId, versions] of [...this.#entries]) for (const version of [...versions.keys()]) this.#drop(orgId, version);
  }

  #drop(orgId: string, version: number, onlyTimer?: NodeJS.Timeout): void {
    const versions = this.#entries.get(orgId);
    const entry = versions?.get(version);
    if (versions === undefined || entry === undefined) return;
    // A timer of an entry that was since replaced must not remove its successor.
    if (onlyTimer !== undefined && entry.timer !== onlyTimer) return;
    clearTimeout(entry.timer);
    versions.delete(version);
    if (versions.size === 0) this.#entries.delete(orgId);
  }
}
