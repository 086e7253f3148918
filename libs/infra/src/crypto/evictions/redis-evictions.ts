import type Redis from 'ioredis';

/** A cache of keys that other processes may have to make forget one entry, or everything. */
export interface EvictionTarget {
  evict(id: string): void;
  evictAll(): void;
}

/**
 * What every message on one eviction channel is: `{ [field]: id }`, and nothing else — no key material, no email,
 * only the id of whatever the cache holds a key for.
 */
export interface EvictionFormat {
  readonly field: string;
  /** The id in canonical form, or undefined when `id` is not one: a publish refuses it, a message naming it evicts everything. */
  readonly canonical: (id: string) => string | undefined;
}

/**
 * Bastion's Redis connections queue commands while disconnected and never give up (`maxRetriesPerRequest: null`),
 * so without a bound a publish during a Redis outage would hang whoever made the change it follows.
 */
export const DEFAULT_EVICTION_PUBLISH_TIMEOUT_MS = 2000;

/**
 * Publishes one eviction — for a process that only publishes (the operator's CLI) as much as for a subscribed one.
 * Rejects with a `RangeError` for anything `format` does not accept as an id, and when Redis does not take the
 * message within `timeoutMs`.
 */
export async function publishEviction(
  publisher: Redis,
  channel: string,
  format: EvictionFormat,
  id: string,
  timeoutMs: number = DEFAULT_EVICTION_PUBLISH_TIMEOUT_MS,
): Promise<void> {
  const canonical = format.canonical(id);
  if (canonical === undefined) throw new RangeError(`An eviction on ${channel} names a ${format.field}, and nothing else.`);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Redis did not take the key eviction within ${timeoutMs} ms.`)), timeoutMs);
    timer.unref();
  });
  try {
    await Promise.race([publisher.publish(channel, JSON.stringify({ [format.field]: canonical })), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const LOST = ['close', 'end', 'reconnecting'] as const;

export interface RedisEvictionsOptions {
  /** Any connection (publishing does not block it). */
  readonly publisher: Redis;
  /** A connection of its own: once subscribed it can do nothing else. Closed by {@link RedisEvictions.close}. */
  readonly subscriber: Redis;
  readonly channel: string;
  readonly format: EvictionFormat;
  readonly target: EvictionTarget;
  /** Told about failures that must not fail the caller (a resubscribe). */
  readonly onError?: (error: unknown, what: string) => void;
  /** Told when a confirmed subscription is lost, after `target` was dropped. */
  readonly onLost?: () => void;
  /** Told when a subscription lost earlier is confirmed again. */
  readonly onRestored?: () => void;
  /** How long a publish may wait. Default {@link DEFAULT_EVICTION_PUBLISH_TIMEOUT_MS}. */
  readonly publishTimeoutMs?: number;
}

/**
 * Cache eviction on every process of a deployment over Redis pub/sub: a change publishes `{ [field]: id }` and each
 * subscribed process makes its cache forget that entry at once.
 *
 * A process can only trust its cache while it is sure to hear every eviction. When the subscription drops
 * (ioredis `close`, `end` or `reconnecting`) the whole cache is dropped and {@link live} turns false until the
 * channel is subscribed again (confirmed by Redis, not merely reconnected: ioredis reports `ready` before its
 * automatic resubscription is acknowledged). What the owner of the cache does while it is deaf is its own policy.
 * What this cannot see is a connection that died silently and has not been noticed yet; there the bound is the
 * cache's TTL.
 */
export class RedisEvictions {
  readonly channel: string;
  readonly #publisher: Redis;
  readonly #subscriber: Redis;
  readonly #format: EvictionFormat;
  readonly #target: EvictionTarget;
  readonly #onError: (error: unknown, what: string) => void;
  readonly #onLost: () => void;
  readonly #onRestored: () => void;
  readonly #publishTimeoutMs: number;
  #live = false;
  #started = false;
  #closed = false;
  #lostSinceLive = false;
  // Bumped whenever the subscription may have been lost; a subscribe confirmed for an older generation is stale.
  #generation = 0;

  constructor(options: RedisEvictionsOptions) {
    this.channel = options.channel;
    this.#publisher = options.publisher;
    this.#subscriber = options.subscriber;
    this.#format = options.format;
    this.#target = options.target;
    this.#onError = options.onError ?? (() => undefined);
    this.#onLost = options.onLost ?? (() => undefined);
    this.#onRestored = options.onRestored ?? (() => undefined);
    this.#publishTimeoutMs = options.publishTimeoutMs ?? DEFAULT_EVICTION_PUBLISH_TIMEOUT_MS;
  }

  /** True while this process is subscribed, so that it hears every eviction. */
  get live(): boolean {
    return this.#live && !this.#closed;
  }

  /** Subscribes; resolves once Redis confirmed it. */
  async start(): Promise<void> {
    if (this.#started) throw new Error(`Evictions on ${this.channel} already started.`);
    this.#started = true;
    this.#subscriber.on('message', this.#onMessage);
    for (const event of LOST) this.#subscriber.on(event, this.#onLostEvent);
    this.#subscriber.on('ready', this.#onReady);
    await this.#subscribe();
  }

  /**
   * Tells every process (this one included) to forget `id`. Rejects when Redis does not take the message within
   * the publish timeout; processes that lost their subscription meanwhile have dropped their caches anyway.
   */
  publish(id: string): Promise<void> {
    return publishEviction(this.#publisher, this.channel, this.#format, id, this.#publishTimeoutMs);
  }

  /** Unsubscribes, disconnects the subscriber and drops the cache. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#live = false;
    this.#generation++;
    this.#subscriber.off('message', this.#onMessage);
    for (const event of LOST) this.#subscriber.off(event, this.#onLostEvent);
    this.#subscriber.off('ready', this.#onReady);
    this.#target.evictAll();
    this.#subscriber.disconnect();
  }

  async #subscribe(): Promise<void> {
    const generation = this.#generation;
    await this.#subscriber.subscribe(this.channel);
    if (generation !== this.#generation || this.#closed) return;
    this.#live = true;
    if (!this.#lostSinceLive) return;
    this.#lostSinceLive = false;
    this.#onRestored();
  }

  readonly #onLostEvent = (): void => {
    const wasLive = this.#live;
    this.#generation++;
    this.#live = false;
    this.#target.evictAll();
    if (!wasLive) return;
    this.#lostSinceLive = true;
    this.#onLost();
  };

  readonly #onReady = (): void => {
    if (this.#closed) return;
    this.#subscribe().catch((error: unknown) => this.#onError(error, 'resubscribe to key evictions'));
  };

  readonly #onMessage = (channel: string, message: string): void => {
    if (channel !== this.channel) return;
    let id: unknown;
    try {
      id = (JSON.parse(message) as Record<string, unknown> | null)?.[this.#format.field];
    } catch {
      id = undefined;
    }
    const canonical = typeof id === 'string' ? this.#format.canonical(id) : undefined;
    // A message this version cannot read may still have meant "evict": forgetting everything is the safe reading.
    if (canonical !== undefined) this.#target.evict(canonical);
    else this.#target.evictAll();
  };
}
