import { StoredEventInvalidError } from './audit-errors';
import { canonicalJson, canonicalJsonBytes, jsonProblem, type JsonObject, type JsonValue } from './canonical-json';

/**
 * The canonical form of one stored event, defined here and nowhere else: RFC 8785 JSON of
 *
 *   { position, transactionId, id, streamId, revision, type, orgId, data, metadata, recordedAt }
 *
 * over the row of the `events` table (migrations/0002), not the port's RecordedEvent: the chain must cover what is
 * stored, including the committing transaction and `recorded_at`, which the port does not expose. Positions,
 * revisions and transaction ids are decimal strings (they are 64-bit in PostgreSQL, beyond a JSON number's exact
 * range); `recordedAt` is UTC at fixed microsecond precision, the precision of `timestamptz`; `data` and
 * `metadata` are the JSON as stored, ciphertexts included, never decrypted.
 */

/** One row of the events table, as a driver may hand it over; {@link toCanonicalEvent} normalises it. */
export interface StoredEvent {
  readonly position: DecimalInput;
  readonly transactionId: DecimalInput;
  readonly id: string;
  readonly streamId: string;
  readonly revision: DecimalInput;
  readonly type: string;
  /** Null only for platform events, which belong to no organisation. */
  readonly orgId: string | null;
  /** The `data` jsonb as parsed JSON. */
  readonly data: unknown;
  /** The `metadata` jsonb as parsed JSON; an object. */
  readonly metadata: unknown;
  /**
   * A Date, or the text PostgreSQL returns for `recorded_at` (`2026-11-25 12:00:00.123456+00`) or an ISO-8601
   * string. A Date holds milliseconds only: read the column as text where the row may carry microseconds, or the
   * sub-millisecond digits are lost and the hash differs from one computed from the text.
   */
  readonly recordedAt: string | Date;
}

/** A bigint column as `pg` returns it (a string), or as a bigint or a safe integer. */
export type DecimalInput = string | bigint | number;

/** The events-table row under its column names, as `select * from events` returns it through `pg`. */
export interface EventsTableRow {
  readonly position: DecimalInput;
  readonly transaction_id: DecimalInput;
  readonly id: string;
  readonly stream_id: string;
  readonly revision: DecimalInput;
  readonly type: string;
  readonly org_id: string | null;
  readonly data: unknown;
  readonly metadata: unknown;
  readonly recorded_at: string | Date;
}

/** A stored event in canonical field form: what is hashed, and what an export carries. It is a StoredEvent too. */
export interface CanonicalEvent {
  readonly position: string;
  readonly transactionId: string;
  readonly id: string;
  readonly streamId: string;
  readonly revision: string;
  readonly type: string;
  readonly orgId: string | null;
  readonly data: JsonValue;
  readonly metadata: JsonObject;
  /** `YYYY-MM-DDTHH:MM:SS.ffffffZ`. */
  readonly recordedAt: string;
}

/**
 * Reads the timestamptz column as canonical text whatever the session's TimeZone and DateStyle; a sealer that
 * selects this never depends on the parsing in {@link canonicalTimestamp}.
 */
export const RECORDED_AT_CANONICAL_SQL = `to_char(recorded_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

export function storedEventFromRow(row: EventsTableRow): StoredEvent {
  return {
    position: row.position,
    transactionId: row.transaction_id,
    id: row.id,
    streamId: row.stream_id,
    revision: row.revision,
    type: row.type,
    orgId: row.org_id,
    data: row.data,
    metadata: row.metadata,
    recordedAt: row.recorded_at,
  };
}

/** Normalises a row to canonical field form; throws {@link StoredEventInvalidError} naming the field it cannot. */
export function toCanonicalEvent(event: StoredEvent): CanonicalEvent {
  const data = event.data;
  const dataProblem = jsonProblem(data);
  if (dataProblem !== undefined) throw new StoredEventInvalidError('data', dataProblem);
  const metadata = event.metadata;
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    throw new StoredEventInvalidError('metadata', 'is not a JSON object');
  }
  const metadataProblem = jsonProblem(metadata);
  if (metadataProblem !== undefined) throw new StoredEventInvalidError('metadata', metadataProblem);
  return {
    position: decimal('position', event.position),
    transactionId: decimal('transactionId', event.transactionId),
    id: text('id', event.id),
    streamId: text('streamId', event.streamId),
    revision: decimal('revision', event.revision),
    type: text('type', event.type),
    orgId: event.orgId === null ? null : text('orgId', event.orgId),
    data: data as JsonValue,
    metadata: metadata as JsonObject,
    recordedAt: canonicalTimestamp(event.recordedAt),
  };
}

/** The canonical form of `event` as text. */
export function canonicalEventJson(event: StoredEvent): string {
  return canonicalJson(toCanonicalEvent(event));
}

/** The canonical form of `event`: the bytes the chain hashes. */
export function canonicalEventBytes(event: StoredEvent): Buffer {
  return canonicalJsonBytes(toCanonicalEvent(event));
}

// Unsigned 64-bit at most: xid8 is unsigned, bigint positions and revisions are non-negative.
const MAX_U64 = (1n << 64n) - 1n;
const DECIMAL = /^(0|[1-9][0-9]{0,19})$/;

function decimal(field: string, value: DecimalInput): string {
  let digits: string;
  if (typeof value === 'string') digits = value;
  else if (typeof value === 'bigint') digits = value.toString();
  else if (typeof value === 'number' && Number.isSafeInteger(value)) digits = String(value);
  else throw new StoredEventInvalidError(field, 'is not an integer within the safe range (pass it as a string)');
  if (!DECIMAL.test(digits) || BigInt(digits) > MAX_U64) {
    throw new StoredEventInvalidError(field, 'is not a non-negative 64-bit decimal integer without leading zeros');
  }
  return digits;
}

function text(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) throw new StoredEventInvalidError(field, 'is not a non-empty string');
  return value;
}

// PostgreSQL's ISO output (`2026-11-25 13:00:00.5+01`, offsets down to seconds for historical zones) and ISO 8601.
const TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(?:(Z)|([+-])(\d{2})(?::?(\d{2})(?::?(\d{2}))?)?)$/;

/**
 * `YYYY-MM-DDTHH:MM:SS.ffffffZ` for a Date, PostgreSQL's ISO text of a timestamptz in any session time zone, or an
 * ISO-8601 timestamp with a zone. More than six fractional digits are refused rather than rounded: rounding would
 * make two different stored instants hash alike.
 */
export function canonicalTimestamp(value: string | Date): string {
  if (value instanceof Date) {
    const millis = value.getTime();
    if (!Number.isFinite(millis)) throw new StoredEventInvalidError('recordedAt', 'is an invalid Date');
    return formatUtc(millis, value.getUTCMilliseconds() * 1000);
  }
  const match = typeof value === 'string' ? TIMESTAMP.exec(value) : null;
  if (!match) {
    throw new StoredEventInvalidError(
      'recordedAt',
      'is neither a Date nor an ISO timestamp with a zone (read recorded_at with DateStyle ISO, or as RECORDED_AT_CANONICAL_SQL)',
    );
  }
  const [, year, month, day, hour, minute, second, fraction = '', zulu, sign, offsetHours = '0', offsetMinutes = '0', offsetSeconds = '0'] = match;
  const fields = [year, month, day, hour, minute, second].map(Number) as [number, number, number, number, number, number];
  const [y, mo, d, h, mi, s] = fields;
  const local = new Date(0);
  // setUTCFullYear, not Date.UTC: Date.UTC reads years 0–99 as 1900–1999.
  local.setUTCFullYear(y, mo - 1, d);
  local.setUTCHours(h, mi, s, 0);
  const roundTrips =
    local.getUTCFullYear() === y &&
    local.getUTCMonth() === mo - 1 &&
    local.getUTCDate() === d &&
    local.getUTCHours() === h &&
    local.getUTCMinutes() === mi &&
    local.getUTCSeconds() === s;
  if (!roundTrips) throw new StoredEventInvalidError('recordedAt', `${value} is not a valid date and time`);
  const offset = zulu ? 0 : (sign === '-' ? -1 : 1) * (Number(offsetHours) * 3600 + Number(offsetMinutes) * 60 + Number(offsetSeconds));
  if (Number(offsetMinutes) > 59 || Number(offsetSeconds) > 59) {
    throw new StoredEventInvalidError('recordedAt', `${value} has an invalid zone offset`);
  }
  return formatUtc(local.getTime() - offset * 1000, Number(fraction.padEnd(6, '0')));
}

/** `millis` is truncated to the whole second; `micros` supplies the fraction. */
function formatUtc(millis: number, micros: number): string {
  const whole = new Date(Math.floor(millis / 1000) * 1000);
  const year = whole.getUTCFullYear();
  if (year < 0 || year > 9999) throw new StoredEventInvalidError('recordedAt', 'is outside the years 0000–9999');
  return `${whole.toISOString().slice(0, 19)}.${String(micros).padStart(6, '0')}Z`;
}
