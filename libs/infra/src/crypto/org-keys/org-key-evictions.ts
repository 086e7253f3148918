import type Redis from 'ioredis';
import type { DataKeyCache } from '../envelope';
import { type EvictionFormat, RedisEvictions } from '../evictions';

/** `<prefix>:keys:evict`: every API, worker and projector process of a deployment listens here. */
export function keyEvictionChannel(prefix: string): string {
  return `${prefix}:keys:evict`;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `{ orgId }`, the org's id in lower case. */
const ORG_KEY_EVICTION: EvictionFormat = {
  field: 'orgId',
  canonical: (orgId) => (UUID.test(orgId) ? orgId.toLowerCase() : undefined),
};

export interface OrgKeyEvictionsOptions {
  /** Any connection (publishing does not block it). */
  readonly publisher: Redis;
  /** A connection of its own: once subscribed it can do nothing else. Closed by {@link OrgKeyEvictions.close}. */
  readonly subscriber: Redis;
  readonly prefix: string;
  readonly cache: DataKeyCache;
  /** Told about failures that must not fail the caller (a publish after a committed revoke, a resubscribe). */
  readonly onError?: (error: unknown, what: string) => void;
  /**
   * How long a publish may wait. Bastion's Redis connections queue commands while disconnected and never give up
   * (`maxRetriesPerRequest: null`), so without a bound a revoke during a Redis outage would hang its request.
   * Default 2000.
   */
  readonly publishTimeoutMs?: number;
}

/**
 * Cache eviction on every process (DESIGN §9): a revoke or a rewrap publishes `{orgId}` and each process evicts
 * that org's plaintext DEKs at once ({@link RedisEvictions}).
 *
 * When the subscription drops the whole cache is dropped and `live` turns false, so the key service stops caching
 * (it caches plaintext DEKs only while `live`) until the channel is subscribed again. What this cannot see is a connection that died silently and has
 * not been noticed yet; the bound there is the cache's TTL, and Bastion's own revoke is in any case checked against
 * the database on every read.
 */
export class OrgKeyEvictions extends RedisEvictions {
  constructor(options: OrgKeyEvictionsOptions) {
    super({
      publisher: options.publisher,
      subscriber: options.subscriber,
      channel: keyEvictionChannel(options.prefix),
      format: ORG_KEY_EVICTION,
      target: options.cache,
      onError: options.onError,
      publishTimeoutMs: options.publishTimeoutMs,
    });
  }
}
