/**
 * Verified tokens, so a token presented on every request is verified once (jose's RS256 verify costs ~0.1 ms
 * through WebCrypto, DESIGN §5). Keyed by a hash of the whole token, so only a byte-identical token hits. Bounded:
 * past `maxEntries` the oldest entry goes. An entry is dropped when its token's `exp` arrives; the caller
 * then verifies afresh and gets the same answer as without a cache.
 */
export interface VerifiedToken<T> {
  readonly value: T;
  readonly kid: string;
  /** Milliseconds since the epoch; the token's `exp`. */
  readonly expiresAtMs: number;
}

export class VerifiedTokenCache<T> {
  readonly #entries = new Map<string, VerifiedToken<T>>();

  constructor(readonly maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 0) throw new RangeError('maxEntries must be a whole number, zero or more');
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string, nowMs: number): VerifiedToken<T> | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (nowMs >= entry.expiresAtMs) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }

  set(key: string, entry: VerifiedToken<T>, nowMs: number): void {
    if (this.maxEntries === 0 || nowMs >= entry.expiresAtMs) return;
    this.#entries.delete(key);
    while (this.#entries.size >= this.maxEntries) {
      // A Map iterates in insertion order: the first key is the oldest entry.
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, entry);
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }
}
