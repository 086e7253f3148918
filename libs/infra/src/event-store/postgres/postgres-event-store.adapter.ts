import type { EventMetadata, NewEvent } from '@bastion/domain';
import type { Client, Pool, PoolClient } from 'pg';
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
import { decodePgPosition, encodePgPosition } from './postgres-position';
import { APPEND, APPEND_NEW_STREAM, CURRENT_REVISION, READ_ALL, READ_STREAM } from './postgres-event-store.sql';
import { pollingSubscription } from './polling-subscription';

type Queryable = Pool | PoolClient | Client;

interface EventRow {
  position: string;
  transaction_id: string;
  id: string;
  stream_id: string;
  revision: string;
  type: string;
  data: Record<string, unknown>;
  metadata: EventMetadata;
}

export interface PostgresEventStoreOptions {
  /** Close the pool in `close()`. */
  readonly ownsPool?: boolean;
  /** How long a caught-up subscription waits before looking again. */
  readonly pollIntervalMs?: number;
}

const UNIQUE_VIOLATION = '23505';
const STREAM_REVISION_CONSTRAINT = 'events_stream_revision_unique';
const ANY_RETRIES = 5;

function toRecorded(row: EventRow): RecordedEvent {
  return {
    id: row.id,
    type: row.type,
    streamId: row.stream_id,
    revision: Number(row.revision),
    position: encodePgPosition(row.transaction_id, row.position),
    data: row.data,
    metadata: row.metadata,
  };
}

function expectationParams(expected: ExpectedRevision): [string, number | null] {
  if (typeof expected === 'number') {
    if (!Number.isSafeInteger(expected) || expected < 0) throw new RangeError(`Invalid expected revision ${expected}`);
    return ['exact', expected];
  }
  return [expected, null];
}

function isRevisionConflict(error: unknown): boolean {
  const e = error as { code?: string; constraint?: string };
  return e.code === UNIQUE_VIOLATION && e.constraint === STREAM_REVISION_CONSTRAINT;
}

/**
 * The embedded event store. Constructed over a pool (system appends, subscriptions) or, through {@link bind}, over
 * the client of a transaction that is already open (a request's RLS-scoped transaction, a command that also
 * writes a credential row): then the append commits or rolls back with everything else in it.
 */
export class PostgresEventStore implements EventStore {
  readonly kind = 'postgres' as const;

  constructor(
    private readonly db: Queryable,
    private readonly options: PostgresEventStoreOptions = {},
  ) {}

  /** The same store, appending and reading inside the caller's open transaction. */
  bind(client: PoolClient | Client): PostgresEventStore {
    return new PostgresEventStore(client, { pollIntervalMs: this.options.pollIntervalMs });
  }

  private get inTransaction(): boolean {
    return !('totalCount' in this.db);
  }

  async append(streamId: string, events: readonly NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    const [kind, exact] = expectationParams(expected);
    if (events.length === 0) return this.checkOnly(streamId, expected);
    const payload = JSON.stringify(events.map((e) => ({ id: e.id, type: e.type, data: e.data, metadata: e.metadata })));
    if (expected === 'no_stream') return this.appendNewStream(streamId, payload);
    for (let attempt = 0; ; attempt += 1) {
      try {
        const { rows } = await this.db.query<{
          current_revision: string;
          last_revision: string | null;
          last_position: string | null;
          transaction_id: string | null;
        }>({ ...APPEND, values: [streamId, kind, exact, payload] });
        const row = rows[0]!;
        if (row.last_revision === null) {
          throw new WrongExpectedRevisionError(streamId, expected, Number(row.current_revision));
        }
        return {
          nextExpectedRevision: Number(row.last_revision),
          position: encodePgPosition(row.transaction_id!, row.last_position!),
        };
      } catch (error) {
        if (!isRevisionConflict(error)) throw error;
        // Lost a race for the same revision. `any` may simply try again, unless the failed statement has already
        // aborted the caller's transaction; every other expectation is, by definition, violated.
        if (expected === 'any' && !this.inTransaction && attempt < ANY_RETRIES) continue;
        throw new WrongExpectedRevisionError(streamId, expected, null);
      }
    }
  }

  private async appendNewStream(streamId: string, payload: string): Promise<AppendResult> {
    try {
      const { rows } = await this.db.query<{ revision: string; position: string; transaction_id: string }>({
        ...APPEND_NEW_STREAM,
        values: [streamId, payload],
      });
      const last = rows.reduce((a, b) => (Number(b.revision) > Number(a.revision) ? b : a));
      return { nextExpectedRevision: Number(last.revision), position: encodePgPosition(last.transaction_id, last.position) };
    } catch (error) {
      if (!isRevisionConflict(error)) throw error;
      // Outside a caller's transaction the actual revision can still be read for the error; inside, the failed
      // statement has aborted the transaction, so it stays unknown.
      const actual = this.inTransaction ? null : Number((await this.db.query<{ rev: string }>({ ...CURRENT_REVISION, values: [streamId] })).rows[0]!.rev);
      throw new WrongExpectedRevisionError(streamId, 'no_stream', actual);
    }
  }

  private async checkOnly(streamId: string, expected: ExpectedRevision): Promise<AppendResult> {
    const { rows } = await this.db.query<{ rev: string }>({ ...CURRENT_REVISION, values: [streamId] });
    const current = Number(rows[0]!.rev);
    const ok =
      expected === 'any' ||
      (expected === 'no_stream' && current === -1) ||
      (expected === 'stream_exists' && current >= 0) ||
      expected === current;
    if (!ok) throw new WrongExpectedRevisionError(streamId, expected, current);
    return { nextExpectedRevision: current, position: null };
  }

  async readStream(streamId: string, fromRevision = 0): Promise<RecordedEvent[]> {
    const { rows } = await this.db.query<EventRow>({ ...READ_STREAM, values: [streamId, fromRevision] });
    return rows.map(toRecorded);
  }

  async readAll(from: Position, options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    const { transactionId, position } = decodePgPosition(from);
    const { rows } = await this.db.query<EventRow>({
      ...READ_ALL,
      values: [transactionId, position, options.maxCount ?? 1000],
    });
    return rows.map(toRecorded);
  }

  subscribeToAll(from: Position, handler: EventsHandler, options: SubscriptionOptions = {}): Subscription {
    if (this.inTransaction) throw new Error('Subscribe from a pool-backed store, not inside a transaction.');
    return pollingSubscription({
      from,
      read: (position, maxCount) => this.readAll(position, { maxCount }),
      handler,
      batchSize: options.batchSize ?? 500,
      pollIntervalMs: this.options.pollIntervalMs ?? 100,
      onRetry: options.onRetry,
    });
  }

  async ping(): Promise<void> {
    try {
      await this.db.query('select 1');
    } catch (error) {
      throw new EventStoreUnavailableError('The PostgreSQL event store does not answer.', { cause: error });
    }
  }

  async close(): Promise<void> {
    if (this.options.ownsPool && !this.inTransaction) await (this.db as Pool).end();
  }
}
