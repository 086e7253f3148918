import type Redis from 'ioredis';
import type { DataKeyCache } from '../envelope';

/** `<prefix>:keys:evict`: every API, worker and projector process of a deployment listens here. */
export function keyEvictionChannel(prefix: string): string {
  return `${prefix}:keys:evict`;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const LOST = ['close', 'end', 'reconnecting'] as const;

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
 * that org's plaintext DEKs at once.
 *
 * A process can only trust its cache while it is sure to hear every eviction. When the subscription drops
 * (ioredis `close`, `end` or `reconnecting`) the whole cache is dropped and {@link live} turns false, so the key
 * service stops caching until the channel is subscribed again (confirmed by Redis, not merely reconnected: ioredis
 * reports `ready` before its automatic resubscription is acknowledged). What this cannot see is a connection that
 * died silently and has not been noticed yet; the bound there is the cache's TTL, and Bastion's own revoke is in
 * any case checked against the database on every read.
 */
export class OrgKeyEvictions {
  readonly channel: string;
  readonly #publisher: Redis;
  readonly #subscriber: Redis;
  readonly #cache: DataKeyCache;
  readonly #onError: (error: unknown, what: string) => void;
  readonly #publishTimeoutMs: number;
  #live = false;
  #started = false;
  #closed = false;
  // Bumped whenever the subscription may have been lost; a subscribe confirmed for an older generation is stale.
  #generation = 0;

  constructor(options: OrgKeyEvictionsOptions) {
    this.channel = keyEvictionChannel(options.prefix);
    this.#publisher = options.publisher;
    this.#subscriber = options.subscriber;
    this.#cache = options.cache;
    this.#onError = options.onError ?? (() => undefined);
    this.#publishTimeoutMs = options.publishTimeoutMs ?? 2000;
  }

  /** True while this process is subscribed: only then may plaintext DEKs be cached. */
  get live(): boolean {
    return this.#live && !this.#closed;
  }

  /** Subscribes; resolves once Redis confirmed it. */
  async start(): Promise<void> {
    if (this.#started) throw new Error('OrgKeyEvictions already started.');
    this.#started = true;
    this.#subscriber.on('message', this.#onMessage);
    for (const event of LOST) this.#subscriber.on(event, this.#onLost);
    this.#subscriber.on('ready', this.#onReady);
    await this.#subscribe();
  }

  /**
   * Tells every process (this one included) to forget the org's DEKs. Rejects when Redis does not take the message
   * within the publish timeout; processes that lost their subscription meanwhile have dropped their caches anyway.
   */
  async publish(orgId: string): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Redis did not take the key eviction within ${this.#publishTimeoutMs} ms.`)), this.#publishTimeoutMs);
      timer.unref();
    });
    try {
      await Promise.race([this.#publisher.publish(this.channel, JSON.stringify({ orgId })), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Unsubscribes, disconnects the subscriber and drops the cache. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#live = false;
    this.#generation++;
    this.#subscriber.off('message', this.#onMessage);
    for (const event of LOST) this.#subscriber.off(event, this.#onLost);
    this.#subscriber.off('ready', this.#onReady);
    this.#cache.evictAll();
    this.#subscriber.disconnect();
  }

  async #subscribe(): Promise<void> {
    const generation = this.#generation;
    await this.#subscriber.subscribe(this.channel);
    if (generation === this.#generation && !this.#closed) this.#live = true;
  }

  readonly #onLost = (): void => {
    this.#generation++;
    this.#live = false;
    this.#cache.evictAll();
  };

  readonly #onReady = (): void => {
    if (this.#closed) return;
    this.#subscribe().catch((error: unknown) => this.#onError(error, 'resubscribe to key evictions'));
  };

  readonly #onMessage = (channel: string, message: string): void => {
    if (channel !== this.channel) return;
    let orgId: unknown;
    try {
      orgId = (JSON.parse(message) as { orgId?: unknown }).orgId;
    } catch {
      orgId = undefined;
    }
    // A message this version cannot read may still have meant "evict": forgetting everything is the safe reading.
    if (typeof orgId === 'string' && UUID.test(orgId)) this.#cache.evict(orgId.toLowerCase());
    else this.#cache.evictAll();
  };
}
