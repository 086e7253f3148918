import type { EventMetadata, NewEvent } from '@bastion/domain';
import {
  ANY,
  type AllStreamResolvedEvent,
  type AppendExpectedRevision,
  type CurrentRevision,
  ErrorType,
  type EventData,
  isCommandError,
  jsonEvent,
  NO_STREAM,
  type Position as EsdbPosition,
  type ResolvedEvent,
  START as ESDB_START,
  STREAM_EXISTS,
} from '@eventstore/db-client';
import {
  EventStoreUnavailableError,
  type ExpectedRevision,
  type Position,
  type RecordedEvent,
  START,
  WrongExpectedRevisionError,
} from '../event-store.port';

/** The client's positions and revisions are unsigned 64-bit integers on the wire. */
const UINT64_MAX = 0xffff_ffff_ffff_ffffn;

// Canonical decimals only (no sign, no leading zeros), so that one position has exactly one encoding.
const POSITION_PATTERN = /^(0|[1-9]\d{0,19})\/(0|[1-9]\d{0,19})$/;

/** EventStoreDB positions are `<commit>/<prepare>`; only this adapter reads them. */
export function encodeEsdbPosition(position: EsdbPosition): Position {
  if (!isUint64(position.commit) || !isUint64(position.prepare)) {
    throw new RangeError(`Not an EventStoreDB position: ${position.commit}/${position.prepare}`);
  }
  return `${position.commit}/${position.prepare}` as Position;
}

export function decodeEsdbPosition(position: Position): typeof ESDB_START | EsdbPosition {
  if (position === START) return ESDB_START;
  const match = POSITION_PATTERN.exec(position);
  const commit = match ? BigInt(match[1]!) : -1n;
  const prepare = match ? BigInt(match[2]!) : -1n;
  if (!isUint64(commit) || !isUint64(prepare)) {
    throw new Error(`Not an EventStoreDB event-store position: ${JSON.stringify(position)}`);
  }
  return { commit, prepare };
}

/** Orders positions in the transaction log; negative when `a` comes first. */
export function compareEsdbPositions(a: EsdbPosition, b: EsdbPosition): number {
  if (a.commit !== b.commit) return a.commit < b.commit ? -1 : 1;
  if (a.prepare !== b.prepare) return a.prepare < b.prepare ? -1 : 1;
  return 0;
}

function isUint64(value: bigint): boolean {
  return value >= 0n && value <= UINT64_MAX;
}

export function toEsdbExpectedRevision(expected: ExpectedRevision): AppendExpectedRevision {
  if (typeof expected === 'number') {
    if (!Number.isSafeInteger(expected) || expected < 0) throw new RangeError(`Invalid expected revision ${expected}`);
    return BigInt(expected);
  }
  switch (expected) {
    case 'any':
      return ANY;
    case 'no_stream':
      return NO_STREAM;
    case 'stream_exists':
      return STREAM_EXISTS;
    default: {
      const _exhaustive: never = expected;
      throw new RangeError(`Invalid expected revision ${String(_exhaustive)}`);
    }
  }
}

/** Whether a stream whose last revision is `current` (-1: no stream) meets the expectation. */
export function expectationHolds(expected: ExpectedRevision, current: number): boolean {
  switch (expected) {
    case 'any':
      return true;
    case 'no_stream':
      return current === -1;
    case 'stream_exists':
      return current >= 0;
    default:
      return expected === current;
  }
}

/** The port counts a missing stream as revision -1, as the PostgreSQL adapter does. */
export function fromEsdbCurrentRevision(current: CurrentRevision): number {
  return current === NO_STREAM ? -1 : toSafeNumber(current, 'revision');
}

function toSafeNumber(value: bigint, what: string): number {
  if (value < BigInt(Number.MIN_SAFE_INTEGER) || value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new RangeError(`EventStoreDB ${what} ${value} does not fit in a JavaScript number`);
  }
  return Number(value);
}

export function toEsdbEventData(event: NewEvent): EventData {
  // The domain types `data` as `object`; the client wants a JSON record. Both are plain JSON by construction.
  return jsonEvent({ id: event.id, type: event.type, data: event.data as Record<string, unknown>, metadata: event.metadata });
}

/** Neither the server's own streams (`$…`) nor its event types (`$metadata`, `$>` links, …) belong to the domain. */
export function isSystemEvent(event: { readonly type: string; readonly streamId: string }): boolean {
  return event.type.startsWith('$') || event.streamId.startsWith('$');
}

/** The position of an event read from `$all` or a subscription; every server this adapter supports (≥ 22.6) sends it. */
export function esdbPositionOf(resolved: ResolvedEvent | AllStreamResolvedEvent): EsdbPosition {
  const position = resolved.event?.position;
  if (!position) throw new Error(`EventStoreDB sent event ${resolved.event?.id ?? '(none)'} without a position; the server is too old.`);
  return position;
}

export function toRecordedEvent(resolved: ResolvedEvent | AllStreamResolvedEvent): RecordedEvent {
  const event = resolved.event;
  if (!event) throw new Error('EventStoreDB sent a link whose event is gone; Bastion streams never hold links.');
  // Reading a foreign or corrupted event as an empty envelope would let a projection skip it silently; refuse instead.
  if (!event.isJson) throw new Error(`Event ${event.id} in ${event.streamId} is not JSON.`);
  return {
    id: event.id,
    type: event.type,
    streamId: event.streamId,
    revision: toSafeNumber(event.revision, 'revision'),
    position: encodeEsdbPosition(esdbPositionOf(resolved)),
    data: jsonObject(event.data, 'data', event.id),
    metadata: jsonObject(event.metadata, 'metadata', event.id) as unknown as EventMetadata,
  };
}

// The client parses JSON itself, but hands back the raw bytes or text when parsing failed.
function jsonObject(value: unknown, what: string, eventId: string): Record<string, unknown> {
  let parsed = value;
  try {
    if (value instanceof Uint8Array) parsed = JSON.parse(Buffer.from(value).toString('utf8'));
    else if (typeof value === 'string') parsed = JSON.parse(value);
  } catch {
    parsed = undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new Error(`Event ${eventId} has no JSON object as its ${what}.`);
  }
  return parsed as Record<string, unknown>;
}

/** Conditions a caller can only wait out: the server or the connection, not the request. */
const UNAVAILABLE: ReadonlySet<ErrorType> = new Set([
  ErrorType.UNAVAILABLE,
  ErrorType.DEADLINE_EXCEEDED,
  ErrorType.TIMEOUT,
  ErrorType.NOT_LEADER,
  ErrorType.CANCELLED,
]);

export function isStreamNotFound(error: unknown): boolean {
  return error instanceof Error && isCommandError(error) && error.type === ErrorType.STREAM_NOT_FOUND;
}

/** The client's errors in the port's terms; anything the port has no word for passes through unchanged. */
export function toPortError(error: unknown, streamId: string, expected?: ExpectedRevision): unknown {
  if (!(error instanceof Error) || !isCommandError(error)) return error;
  if (error.type === ErrorType.WRONG_EXPECTED_VERSION && expected !== undefined) {
    const actual = error.actualVersion as CurrentRevision | undefined;
    return new WrongExpectedRevisionError(streamId, expected, actual === undefined ? null : fromEsdbCurrentRevision(actual));
  }
  if (UNAVAILABLE.has(error.type)) {
    return new EventStoreUnavailableError(`EventStoreDB is unavailable (${error.type}): ${error.message}`, { cause: error });
  }
  return error;
}
