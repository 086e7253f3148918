import type Redis from 'ioredis';
import { type EvictionFormat, publishEviction, RedisEvictions } from '../evictions';
import type { PersonKeyCache } from './person-key-cache';
import { isPersonSubject } from './person-subject';

/** `<prefix>:person-keys:evict`: every process that holds a {@link PersonKeyCache} listens here. */
export function personKeyEvictionChannel(prefix: string): string {
  return `${prefix}:person-keys:evict`;
}

/** `{ subject }`: an account id or an `e-<uuid>` pseudonym, never an email, never key material. */
const PERSON_KEY_EVICTION: EvictionFormat = {
  field: 'subject',
  canonical: (subject) => {
    const lower = subject.toLowerCase();
    return isPersonSubject(lower) ? lower : undefined;
  },
};

/** Whatever tells running processes that a person's key is gone: {@link PersonKeyEvictions}, or the CLI's publisher. */
export interface PersonKeyEvictionPublisher {
  publish(subject: string): Promise<void>;
}

/**
 * Publishes one person-key eviction without subscribing (the operator's CLI). Rejects for anything but a subject,
 * and when Redis does not take the message within `timeoutMs` (default 2000).
 */
export function publishPersonKeyEviction(publisher: Redis, prefix: string, subject: string, timeoutMs?: number): Promise<void> {
  return publishEviction(publisher, personKeyEvictionChannel(prefix), PERSON_KEY_EVICTION, subject, timeoutMs);
}

export interface PersonKeyEvictionsOptions {
  /** Any connection (publishing does not block it). */
  readonly publisher: Redis;
  /** A connection of its own: once subscribed it can do nothing else. Closed by {@link PersonKeyEvictions.close}. */
  readonly subscriber: Redis;
  readonly prefix: string;
  readonly cache: PersonKeyCache;
  /** Told about failures that must not fail the caller (a resubscribe). */
  readonly onError?: (error: unknown, what: string) => void;
  /** Told when the subscription is lost (the cache is dropped; erasures now reach this process only by the TTL). */
  readonly onLost?: () => void;
  /** Told when it is back (the cache is dropped once more: it may hold a key whose eviction was missed). */
  readonly onRestored?: () => void;
  /** How long a publish may wait. Default 2000. */
  readonly publishTimeoutMs?: number;
}

/**
 * Person-key eviction on every process ({@link RedisEvictions}): an erasure publishes `{ subject }` once it has
 * committed, and each process forgets that person's key at once, so its next seal reloads from the key table —
 * and finds none, or a new key — instead of sealing under the erased one until the TTL.
 *
 * While the subscription is down the cache keeps working as it did before evictions existed: a key loaded then is
 * trusted for at most `PERSON_KEY_TTL_SECONDS` (whoever owns the process says so in its log). The cache is dropped
 * when the subscription is lost and again when it is back, so no key loaded while deaf outlives the outage. Reads
 * never depend on any of this: they check the key table every time.
 */
export class PersonKeyEvictions extends RedisEvictions implements PersonKeyEvictionPublisher {
  constructor(options: PersonKeyEvictionsOptions) {
    const cache = options.cache;
    super({
      publisher: options.publisher,
      subscriber: options.subscriber,
      channel: personKeyEvictionChannel(options.prefix),
      format: PERSON_KEY_EVICTION,
      target: { evict: (subject) => cache.evict([subject]), evictAll: () => cache.evictAll() },
      onError: options.onError,
      onLost: options.onLost,
      onRestored: () => {
        cache.evictAll();
        options.onRestored?.();
      },
      publishTimeoutMs: options.publishTimeoutMs,
    });
  }
}
