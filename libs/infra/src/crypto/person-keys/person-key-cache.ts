import type { PersonKey } from './seal-personal';

/**
 * Unwrapped person keys in memory for at most `ttlSeconds` after they were unwrapped, so sign-in, a refresh and
 * every command of a signed-in person seal their request's IP address and user agent without a KMS round trip.
 *
 * Each entry remembers the wrapped bytes it was unwrapped from. A reader that has just fetched the current row
 * hands those in, and an entry for other bytes (the key was erased, and maybe a new one created since) is not
 * served: reads are as fresh as the database. A sealer may use an entry without looking at the database, so an
 * erasure evicts the person's entry in every process at once ({@link PersonKeyEvictions}); only a process deaf to
 * evictions may seal new values under the erased key — which nobody can open — for at most the TTL.
 */
export interface PersonKeyCacheOptions {
  /**
   * Default 300; 0 caches nothing. Unlike an org's DEK (whose cache age bounds a revocation), a person key's age
   * bounds nothing a reader sees — reads check the key table — so it can stay long enough to cover an MFA prompt or
   * an agent's next token exchange.
   */
  readonly ttlSeconds?: number;
  /** Milliseconds since the epoch; tests inject a clock. */
  readonly now?: () => number;
  /** Entries beyond which expired ones are swept on the next write. Default 10 000. */
  readonly sweepAbove?: number;
}

export const DEFAULT_PERSON_KEY_TTL_SECONDS = 300;

interface Entry {
  readonly key: PersonKey;
  readonly wrapped: Buffer;
  readonly expiresAtMs: number;
}

export class PersonKeyCache {
  readonly ttlSeconds: number;
  readonly #now: () => number;
  readonly #sweepAbove: number;
  readonly #entries = new Map<string, Entry>();
  #epoch = 0;

  constructor(options: PersonKeyCacheOptions = {}) {
    const ttlSeconds = options.ttlSeconds ?? DEFAULT_PERSON_KEY_TTL_SECONDS;
    if (!Number.isFinite(ttlSeconds) || ttlSeconds < 0) throw new RangeError('ttlSeconds must be a finite number ≥ 0');
    this.ttlSeconds = ttlSeconds;
    this.#now = options.now ?? Date.now;
    this.#sweepAbove = options.sweepAbove ?? 10_000;
  }

  get size(): number {
    return this.#entries.size;
  }

  /**
   * Bumped by every eviction. A load reads it before it reads the key table and hands it to {@link set}, so a key
   * read before an erasure's eviction arrived is not put back after it.
   */
  get epoch(): number {
    return this.#epoch;
  }

  /** The cached key of `subject`; with `wrapped`, only if it was unwrapped from exactly those bytes. */
  get(subject: string, wrapped?: Buffer): PersonKey | undefined {
    const entry = this.#entries.get(subject);
    if (entry === undefined) return undefined;
    if (this.#now() >= entry.expiresAtMs) {
      this.#entries.delete(subject);
      return undefined;
    }
    if (wrapped !== undefined && !entry.wrapped.equals(wrapped)) return undefined;
    return entry.key;
  }

  /** Caches `key`, unless an eviction came since `epoch` (when given). */
  set(key: PersonKey, wrapped: Buffer, epoch?: number): void {
    if (this.ttlSeconds === 0) return;
    if (epoch !== undefined && epoch !== this.#epoch) return;
    if (this.#entries.size >= this.#sweepAbove) this.#sweep();
    this.#entries.set(key.subject, { key, wrapped: Buffer.from(wrapped), expiresAtMs: this.#now() + this.ttlSeconds * 1000 });
  }

  evict(subjects: readonly string[]): void {
    this.#epoch++;
    for (const subject of subjects) this.#entries.delete(subject);
  }

  evictAll(): void {
    this.#epoch++;
    this.#entries.clear();
  }

  #sweep(): void {
    const now = this.#now();
    for (const [subject, entry] of this.#entries) if (now >= entry.expiresAtMs) this.#entries.delete(subject);
  }
}
