import type { NewEvent } from '@bastion/domain';
import {
  type AllStreamResolvedEvent,
  type AllStreamSubscription,
  BACKWARDS,
  END as ESDB_END,
  EventStoreDBClient,
  excludeSystemEvents,
  FORWARDS,
  START as ESDB_START,
} from '@eventstore/db-client';
import {
  type AppendResult,
  type EventsHandler,
  type EventStore,
  EventStoreUnavailableError,
  type ExpectedRevision,
  type Position,
  type ReadAllOptions,
  type RecordedEvent,
  type Subscription,
  type SubscriptionOptions,
  WrongExpectedRevisionError,
} from '../event-store.port';
import {
  compareEsdbPositions,
  decodeEsdbPosition,
  encodeEsdbPosition,
  esdbPositionOf,
  expectationHolds,
  fromEsdbCurrentRevision,
  isStreamNotFound,
  isSystemEvent,
  toEsdbEventData,
  toEsdbExpectedRevision,
  toPortError,
  toRecordedEvent,
} from './eventstoredb-mapping';

export interface EventStoreDbEventStoreOptions {
  /** Dispose the client in `close()`; defaults to true. */
  readonly ownsClient?: boolean;
  /** How long `ping()` waits for an answer. */
  readonly pingTimeoutMs?: number;
}

const DEFAULT_READ_ALL_COUNT = 1000;
const READ_ALL_PAGE = 1000;
const DEFAULT_BATCH_SIZE = 500;
const MAX_BACKOFF_MS = 5000;
// Reading a stream nobody writes is the cheapest authenticated round trip the gRPC API offers: a user stream needs
// no admin rights (as `$all` would), and "not found" is an answer.
const PING_STREAM = 'bastion-ping';

/**
 * The EventStoreDB store (DESIGN §3), selected with `EVENT_STORE=eventstoredb`. The server's `$all` order is the
 * global order; its positions travel through the port as opaque `<commit>/<prepare>` strings.
 */
export class EventStoreDbEventStore implements EventStore {
  readonly kind = 'eventstoredb' as const;
  private readonly client: EventStoreDBClient;
  private readonly subscriptions = new Set<Subscription>();

  constructor(
    client: EventStoreDBClient | string,
    private readonly options: EventStoreDbEventStoreOptions = {},
  ) {
    this.client = typeof client === 'string' ? EventStoreDBClient.connectionString(client) : client;
  }

  async append(streamId: string, events: readonly NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    const expectedRevision = toEsdbExpectedRevision(expected);
    // The server answers an empty append to a missing stream with revision 0, indistinguishable from one event.
    if (events.length === 0) return this.checkOnly(streamId, expected);
    try {
      const result = await this.client.appendToStream(streamId, events.map(toEsdbEventData), { expectedRevision });
      return {
        nextExpectedRevision: fromEsdbCurrentRevision(result.nextExpectedRevision),
        position: result.position ? encodeEsdbPosition(result.position) : null,
      };
    } catch (error) {
      throw toPortError(error, streamId, expected);
    }
  }

  private async checkOnly(streamId: string, expected: ExpectedRevision): Promise<AppendResult> {
    let current = -1;
    try {
      for await (const resolved of this.client.readStream(streamId, { fromRevision: ESDB_END, direction: BACKWARDS, maxCount: 1 })) {
        current = toRecordedEvent(resolved).revision;
      }
    } catch (error) {
      if (!isStreamNotFound(error)) throw toPortError(error, streamId);
    }
    if (!expectationHolds(expected, current)) throw new WrongExpectedRevisionError(streamId, expected, current);
    return { nextExpectedRevision: current, position: null };
  }

  async readStream(streamId: string, fromRevision = 0): Promise<RecordedEvent[]> {
    if (!Number.isSafeInteger(fromRevision) || fromRevision < 0) throw new RangeError(`Invalid revision ${fromRevision}`);
    const out: RecordedEvent[] = [];
    try {
      for await (const resolved of this.client.readStream(streamId, { fromRevision: BigInt(fromRevision), direction: FORWARDS })) {
        out.push(toRecordedEvent(resolved));
      }
    } catch (error) {
      if (isStreamNotFound(error)) return [];
      throw toPortError(error, streamId);
    }
    return out;
  }

  async readAll(from: Position, options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    const maxCount = options.maxCount ?? DEFAULT_READ_ALL_COUNT;
    const out: RecordedEvent[] = [];
    let cursor = decodeEsdbPosition(from);
    try {
      while (out.length < maxCount) {
        // A forward read includes the event at its starting position, which the port excludes: ask for one more.
        const pageSize = Math.min(maxCount - out.length + 1, READ_ALL_PAGE);
        let received = 0;
        for await (const resolved of this.client.readAll({ fromPosition: cursor, maxCount: pageSize, direction: FORWARDS })) {
          received += 1;
          const position = esdbPositionOf(resolved);
          if (cursor !== ESDB_START && compareEsdbPositions(position, cursor) <= 0) continue;
          cursor = position;
          // System events are filtered here rather than by the server because reads of $all take no filter.
          if (resolved.event && isSystemEvent(resolved.event)) continue;
          out.push(toRecordedEvent(resolved));
          if (out.length === maxCount) break;
        }
        if (received < pageSize) break;
      }
    } catch (error) {
      throw toPortError(error, '$all');
    }
    return out;
  }

  subscribeToAll(from: Position, handler: EventsHandler, options: SubscriptionOptions = {}): Subscription {
    decodeEsdbPosition(from); // refuse a foreign position now rather than inside the background loop
    const subscription = catchUpSubscription({
      client: this.client,
      from,
      handler,
      batchSize: options.batchSize ?? DEFAULT_BATCH_SIZE,
      onRetry: options.onRetry,
    });
    this.subscriptions.add(subscription);
    void subscription.done.catch(() => undefined).finally(() => this.subscriptions.delete(subscription));
    return subscription;
  }

  async ping(): Promise<void> {
    const read = this.client.readStream(PING_STREAM, { maxCount: 1, direction: FORWARDS });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      const ms = this.options.pingTimeoutMs ?? 2000;
      timer = setTimeout(() => reject(new Error(`No answer within ${ms} ms`)), ms);
    });
    const drain = async () => {
      for await (const _ of read);
    };
    try {
      await Promise.race([drain(), timeout]);
    } catch (error) {
      if (isStreamNotFound(error)) return;
      throw new EventStoreUnavailableError('The EventStoreDB event store does not answer.', { cause: error });
    } finally {
      clearTimeout(timer);
      read.destroy();
    }
  }

  async close(): Promise<void> {
    // Disposing the client cancels live subscriptions without ending them; stop them first so their `done` settles.
    await Promise.all([...this.subscriptions].map((s) => s.stop()));
    if (this.options.ownsClient ?? true) await this.client.dispose();
  }
}

interface CatchUpOptions {
  readonly client: EventStoreDBClient;
  readonly from: Position;
  readonly handler: EventsHandler;
  readonly batchSize: number;
  readonly onRetry?: (error: unknown, attempt: number) => void;
}

/**
 * A catch-up subscription to `$all` that resubscribes after a drop from the last position it handled, so an event is
 * neither skipped nor handed over twice. The server's stream is read in paused mode: the handler's pace, not the
 * server's, sets the flow (gRPC flow control pushes back once `batchSize` events are buffered).
 */
function catchUpSubscription(options: CatchUpOptions): Subscription {
  let stopped = false;
  let current: Pull | undefined;
  let wake: (() => void) | undefined;
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  const run = async () => {
    let last = options.from;
    let failures = 0;
    while (!stopped) {
      let dropped: unknown;
      const pull = new Pull(
        options.client.subscribeToAll(
          { fromPosition: decodeEsdbPosition(last), resolveLinkTos: false, filter: excludeSystemEvents() },
          { highWaterMark: options.batchSize },
        ),
      );
      current = pull;
      try {
        for (;;) {
          let batch: AllStreamResolvedEvent[] | null;
          try {
            batch = await pull.next(options.batchSize);
          } catch (error) {
            dropped = error;
            break;
          }
          if (stopped) break;
          if (batch === null) {
            dropped = new Error('The server ended the $all subscription.');
            break;
          }
          failures = 0;
          // The server filters system event types; streams such as `$$…` with ordinary types are caught here.
          const events = batch.filter((resolved) => !(resolved.event && isSystemEvent(resolved.event))).map(toRecordedEvent);
          if (events.length > 0) await options.handler(events);
          last = encodeEsdbPosition(esdbPositionOf(batch[batch.length - 1]!));
        }
      } finally {
        pull.close();
      }
      if (stopped) break;
      failures += 1;
      options.onRetry?.(dropped, failures);
      await sleep(Math.min(MAX_BACKOFF_MS, 50 * 2 ** failures));
    }
  };

  const done = run();
  done.catch(() => undefined); // observed through `done`; never an unhandled rejection
  return {
    done,
    async stop() {
      stopped = true;
      current?.abort();
      wake?.();
      await done.catch(() => undefined);
    },
  };
}

/** Takes what a subscription has buffered, up to a limit, waiting only when nothing is. */
class Pull {
  private ended = false;
  private failure: { error: unknown } | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly source: AllStreamSubscription) {
    const notify = () => {
      const wake = this.wake;
      this.wake = undefined;
      wake?.();
    };
    // The error listener stays for the stream's whole life: an 'error' nobody listens to would crash the process.
    source.on('error', (error) => {
      this.failure ??= { error };
      notify();
    });
    source.on('readable', notify);
    source.on('end', () => {
      this.ended = true;
      notify();
    });
    source.on('close', () => {
      this.ended = true;
      notify();
    });
  }

  /** At least one and at most `max` events; null once the source ended or was aborted; throws when it failed. */
  async next(max: number): Promise<AllStreamResolvedEvent[] | null> {
    for (;;) {
      const batch: AllStreamResolvedEvent[] = [];
      while (!this.ended && batch.length < max) {
        const item = this.source.read() as AllStreamResolvedEvent | null;
        if (item === null) break;
        batch.push(item);
      }
      if (batch.length > 0) return batch;
      if (this.failure) throw this.failure.error;
      if (this.ended) return null;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  abort(): void {
    this.ended = true;
    this.wake?.();
  }

  close(): void {
    this.abort();
    void this.source
      .unsubscribe()
      .catch(() => undefined)
      .finally(() => this.source.destroy());
  }
}
