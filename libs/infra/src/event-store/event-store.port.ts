import type { EventMetadata, NewEvent } from '@bastion/domain';

/**
 * A position in the global order. Opaque above the adapter: PostgreSQL encodes (transaction id, position),
 * EventStoreDB (commit, prepare). Nothing outside an adapter compares or does arithmetic on it; it is only
 * stored (as a checkpoint) and handed back.
 */
export type Position = string & { readonly __brand: 'EventStorePosition' };

/** Reads from before the first event. */
export const START = 'start' as Position;

/**
 * - `any`: append whatever the stream holds;
 * - `no_stream`: the stream must not exist yet;
 * - `stream_exists`: the stream must hold at least one event;
 * - a number: the revision of the stream's last event must be exactly this (revisions start at 0).
 */
export type ExpectedRevision = 'any' | 'no_stream' | 'stream_exists' | number;

export interface RecordedEvent {
  readonly id: string;
  readonly type: string;
  readonly streamId: string;
  readonly revision: number;
  readonly position: Position;
  readonly data: Record<string, unknown>;
  readonly metadata: EventMetadata;
}

export interface AppendResult {
  /** Revision of the last event appended (of the stream's last event if nothing was appended). */
  readonly nextExpectedRevision: number;
  readonly position: Position | null;
}

export interface ReadAllOptions {
  readonly maxCount?: number;
}

export interface SubscriptionOptions {
  /** Upper bound on events handed to one `onEvents` call. */
  readonly batchSize?: number;
  /** Called when the subscription dropped and is about to resubscribe; for logs and metrics. */
  readonly onRetry?: (error: unknown, attempt: number) => void;
}

export interface Subscription {
  /** Resolves once no handler call is running and none will start. */
  stop(): Promise<void>;
  /** Rejects if the handler failed; the subscription stops on the first handler failure. */
  readonly done: Promise<void>;
}

/**
 * Called with consecutive events in global order. The subscription advances only after the returned promise
 * resolves; a rejection stops it (a projection must never skip an event it could not apply).
 */
export type EventsHandler = (events: readonly RecordedEvent[]) => Promise<void>;

export interface EventStore {
  readonly kind: 'postgres' | 'eventstoredb';
  append(streamId: string, events: readonly NewEvent[], expected: ExpectedRevision): Promise<AppendResult>;
  /** The stream's events from `fromRevision` on, in order; an empty array when the stream does not exist. */
  readStream(streamId: string, fromRevision?: number): Promise<RecordedEvent[]>;
  /** Committed events strictly after `from` in global order, at most `maxCount` (default 1000). */
  readAll(from: Position, options?: ReadAllOptions): Promise<RecordedEvent[]>;
  /** A catch-up subscription over every stream, strictly after `from`; it lives until stopped. */
  subscribeToAll(from: Position, handler: EventsHandler, options?: SubscriptionOptions): Subscription;
  /** A cheap round trip for readiness checks. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export class WrongExpectedRevisionError extends Error {
  readonly code = 'EVENT_STORE.WRONG_EXPECTED_REVISION';
  constructor(
    readonly streamId: string,
    readonly expected: ExpectedRevision,
    /** The stream's actual last revision when known (-1: no stream); null when the adapter could not tell. */
    readonly actual: number | null,
  ) {
    super(`Stream ${streamId}: expected revision ${String(expected)}, found ${actual === null ? 'a concurrent append' : actual}.`);
    this.name = 'WrongExpectedRevisionError';
  }
}

export class EventStoreUnavailableError extends Error {
  readonly code = 'EVENT_STORE.UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EventStoreUnavailableError';
  }
}

export const EVENT_STORE = Symbol('EventStore');
