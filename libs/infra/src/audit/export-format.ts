import { ChainMismatchError } from './audit-errors';
import { canonicalTimestamp, type CanonicalEvent, type StoredEvent } from './canonical-event';
import { canonicalJson, jsonProblem, type JsonObject, type JsonValue } from './canonical-json';
import { checkpointOf, parseSignedCheckpoint, type CheckpointSigner, type SignedCheckpoint } from './checkpoint';
import { peekable, type Peekable } from './peekable';
import { assertChainState, compareGlobalOrder, extendChain, GENESIS_HEAD, isHead, orgOfChain, type ChainId, type ChainLink, type ChainState } from './hash-chain';

/**
 * The audit export, `bastion-audit-export/1`, as JSON Lines (docs/audit-export.md is the auditor's description):
 *
 *   {"kind":"header","format":…,"chain":…,"org":…,"previousHead":…,"previousCount":…,"fromPosition":…,"exportedAt":…}
 *   {"kind":"event","count":n,"chainHash":h_n,"event":<canonical event>}          one per event, in chain order
 *   {"kind":"checkpoint",…signed checkpoint}                                       anywhere, any number
 *   {"kind":"checkpoint",…signed checkpoint}                                       last: covers the last event
 *
 * The header is the chain state the file continues from, so an export need not start at the chain's beginning;
 * the final checkpoint is signed when the export is written, so a cut-off tail is evident.
 */

export const AUDIT_EXPORT_FORMAT = 'bastion-audit-export/1';

export interface ExportHeader {
  readonly kind: 'header';
  readonly format: typeof AUDIT_EXPORT_FORMAT;
  readonly chain: ChainId;
  /** The organisation of the chain; null for the platform chain. */
  readonly org: string | null;
  /** The chain head just before the first exported event; the genesis head (64 zeros) at the chain's start. */
  readonly previousHead: string;
  readonly previousCount: number;
  /** Position of the last event `previousHead` covers (exclusive start); null at the chain's start. */
  readonly fromPosition: string | null;
  readonly exportedAt: string;
}

export interface ExportEventRecord {
  readonly kind: 'event';
  readonly count: number;
  readonly chainHash: string;
  readonly event: CanonicalEvent;
}

export interface ExportCheckpointRecord extends SignedCheckpoint {
  readonly kind: 'checkpoint';
}

export type ExportRecord = ExportHeader | ExportEventRecord | ExportCheckpointRecord;

export function exportHeader(from: ChainState, exportedAt: Date): ExportHeader {
  return {
    kind: 'header',
    format: AUDIT_EXPORT_FORMAT,
    chain: from.chain,
    org: orgOfChain(from.chain) ?? null,
    previousHead: from.head,
    previousCount: from.count,
    fromPosition: from.lastPosition,
    exportedAt: exportedAt.toISOString(),
  };
}

export function eventRecord(link: ChainLink): ExportEventRecord {
  return { kind: 'event', count: link.count, chainHash: link.chainHash, event: link.event };
}

export function checkpointRecord(checkpoint: SignedCheckpoint): ExportCheckpointRecord {
  const { chain, position, count, head, issuedAt, keyId, signature } = checkpoint;
  return { kind: 'checkpoint', chain, position, count, head, issuedAt, keyId, signature };
}

/**
 * One JSONL line, without its newline. Members come in the documented order, `kind` first, for people reading the
 * file; an event's `event` member is written in its canonical form, so its exact text is what the chain hashed.
 */
export function exportLine(record: ExportRecord): string {
  switch (record.kind) {
    case 'header':
    case 'checkpoint':
      return JSON.stringify(record);
    case 'event':
      return `{"kind":"event","count":${record.count},"chainHash":${JSON.stringify(record.chainHash)},"event":${canonicalJson(record.event)}}`;
    default: {
      const _exhaustive: never = record;
      return _exhaustive;
    }
  }
}

export interface AuditExportOptions {
  /** The chain state just before the first exported event (the state the sealer held at `fromPosition`). */
  readonly from: ChainState;
  /** The chain's events after `from`, in the global order; read lazily, so an export streams in constant memory. */
  readonly events: AsyncIterable<StoredEvent> | Iterable<StoredEvent>;
  /**
   * Checkpoints the sealer signed inside the exported range, ascending by count. Each is written after the event it
   * claims to cover (by count), so one that no longer matches the events, because a row was edited or deleted
   * since, is reported by the verifier at that place. One beyond the last exported event is written at the end and
   * reported too: pass only checkpoints of the range.
   */
  readonly checkpoints?: AsyncIterable<SignedCheckpoint> | Iterable<SignedCheckpoint>;
  /** Signs the final checkpoint, at the end of the export. */
  readonly sign: CheckpointSigner;
  readonly now: () => Date;
}

/** The records of one export: header, events with interleaved checkpoints, and a final checkpoint signed now. */
export async function* auditExportRecords(options: AuditExportOptions): AsyncGenerator<ExportRecord> {
  const { from, sign, now } = options;
  assertChainState(from);
  const exportedAt = now();
  yield exportHeader(from, exportedAt);
  const sealed = peekable(options.checkpoints ?? []);
  // Checkpoints before the range say nothing about it; one at its start vouches for the header's previous head.
  for (let checkpoint = await sealed.peek(); checkpoint !== undefined && checkpoint.count < from.count; checkpoint = await sealed.peek()) {
    await sealed.take();
  }
  let state = from;
  let previous: CanonicalEvent | undefined;
  yield* sealedUpTo(sealed, state.count);
  for await (const stored of options.events) {
    const { state: next, links } = extendChain(state, [stored]);
    const link = links[0]!;
    // One event per call, so extendChain cannot see the order across events: it is checked here.
    if (previous !== undefined && compareGlobalOrder(previous, link.event) >= 0) {
      throw new ChainMismatchError(`the event at position ${link.event.position} does not come after position ${previous.position} in the global order`);
    }
    state = next;
    previous = link.event;
    // The hash the sealer recorded when it sealed this event, when the exporter has it: a record then carries what
    // was sealed, not what the store says now, so an event changed since sealing fails at its own line.
    const sealedHash = (stored as { sealedChainHash?: string }).sealedChainHash;
    yield eventRecord(sealedHash ? { ...link, chainHash: sealedHash } : link);
    yield* sealedUpTo(sealed, state.count);
  }
  yield* sealedUpTo(sealed, Number.POSITIVE_INFINITY);
  // Never before the header's exportedAt, even if the clock stepped back: the verifier reads an earlier final
  // checkpoint as a file cut off after a sealer checkpoint.
  const issuedAt = new Date(Math.max(now().getTime(), exportedAt.getTime()));
  yield checkpointRecord(await sign(checkpointOf(state, issuedAt)));
}

async function* sealedUpTo(sealed: Peekable<SignedCheckpoint>, count: number): AsyncGenerator<ExportCheckpointRecord> {
  for (let checkpoint = await sealed.peek(); checkpoint !== undefined && checkpoint.count <= count; checkpoint = await sealed.peek()) {
    yield checkpointRecord(checkpoint);
    await sealed.take();
  }
}

/** An export as JSONL chunks, one line each, newline included, ready to write to a response or a file. */
export async function* auditExportJsonl(options: AuditExportOptions): AsyncGenerator<string> {
  for await (const record of auditExportRecords(options)) yield `${exportLine(record)}\n`;
}

// ---- reading records back -------------------------------------------------------------------------------------

const DECIMAL = /^(0|[1-9][0-9]{0,19})$/;
const CANONICAL_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const EXPORTED_AT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const EVENT_MEMBERS = ['position', 'transactionId', 'id', 'streamId', 'revision', 'type', 'orgId', 'data', 'metadata', 'recordedAt'];
const HEADER_MEMBERS = ['kind', 'format', 'chain', 'org', 'previousHead', 'previousCount', 'fromPosition', 'exportedAt'];
const EVENT_RECORD_MEMBERS = ['kind', 'count', 'chainHash', 'event'];
const CHECKPOINT_RECORD_MEMBERS = ['kind', 'chain', 'position', 'count', 'head', 'issuedAt', 'keyId', 'signature'];

/**
 * Reads one record from untrusted parsed JSON; a string is the reason it is not one. Unknown members are refused,
 * not ignored: nothing may ride along in a file that the hashes and signatures do not cover.
 */
export function parseExportRecord(value: unknown): ExportRecord | string {
  if (!isPlainObject(value)) return 'is not a JSON object';
  switch (value.kind) {
    case 'header':
      return parseHeader(value);
    case 'event':
      return parseEventRecord(value);
    case 'checkpoint': {
      const members = membersProblem(value, CHECKPOINT_RECORD_MEMBERS);
      if (members) return members;
      const checkpoint = parseSignedCheckpoint(value);
      return typeof checkpoint === 'string' ? `checkpoint ${checkpoint}` : checkpointRecord(checkpoint);
    }
    default:
      return `"kind" is ${JSON.stringify(value.kind)}, not header, event or checkpoint`;
  }
}

function parseHeader(value: Record<string, unknown>): ExportHeader | string {
  const members = membersProblem(value, HEADER_MEMBERS);
  if (members) return members;
  const { format, chain, org, previousHead, previousCount, fromPosition, exportedAt } = value;
  if (format !== AUDIT_EXPORT_FORMAT) return `"format" is ${JSON.stringify(format)}, not ${AUDIT_EXPORT_FORMAT}`;
  if (typeof chain !== 'string' || orgOfChain(chain) === undefined) return 'header "chain" is not a chain id';
  if (org !== orgOfChain(chain)) return 'header "org" is not the organisation of "chain"';
  if (!isHead(previousHead)) return 'header "previousHead" is not 64 lower-case hex digits';
  if (typeof previousCount !== 'number' || !Number.isSafeInteger(previousCount) || previousCount < 0) {
    return 'header "previousCount" is not a non-negative integer';
  }
  const atStart = previousCount === 0;
  if (atStart !== (previousHead === GENESIS_HEAD) || (atStart ? fromPosition !== null : typeof fromPosition !== 'string' || !DECIMAL.test(fromPosition))) {
    return 'header: at the chain start "previousCount" is 0, "previousHead" the genesis head and "fromPosition" null; otherwise none of these';
  }
  if (typeof exportedAt !== 'string' || !EXPORTED_AT.test(exportedAt) || Number.isNaN(Date.parse(exportedAt))) {
    return 'header "exportedAt" is not an ISO-8601 UTC instant with milliseconds';
  }
  return {
    kind: 'header',
    format,
    chain: chain as ChainId,
    org: org as string | null,
    previousHead,
    previousCount,
    fromPosition: fromPosition as string | null,
    exportedAt,
  };
}

function parseEventRecord(value: Record<string, unknown>): ExportEventRecord | string {
  const members = membersProblem(value, EVENT_RECORD_MEMBERS);
  if (members) return members;
  const { count, chainHash } = value;
  if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 1) return '"count" is not a positive integer';
  if (!isHead(chainHash)) return '"chainHash" is not 64 lower-case hex digits';
  const event = parseCanonicalEvent(value.event);
  if (typeof event === 'string') return `"event" ${event}`;
  return { kind: 'event', count, chainHash, event };
}

/** An exported event must already be in canonical field form: a verifier elsewhere hashes exactly what it reads. */
export function parseCanonicalEvent(value: unknown): CanonicalEvent | string {
  if (!isPlainObject(value)) return 'is not a JSON object';
  const members = membersProblem(value, EVENT_MEMBERS);
  if (members) return members;
  const { position, transactionId, id, streamId, revision, type, orgId, data, metadata, recordedAt } = value;
  for (const [name, decimal] of [['position', position], ['transactionId', transactionId], ['revision', revision]] as const) {
    if (typeof decimal !== 'string' || !DECIMAL.test(decimal)) return `"${name}" is not a decimal string`;
  }
  for (const [name, text] of [['id', id], ['streamId', streamId], ['type', type]] as const) {
    if (typeof text !== 'string' || text.length === 0) return `"${name}" is not a non-empty string`;
  }
  if (orgId !== null && (typeof orgId !== 'string' || orgOfChain(`org:${orgId}`) === undefined)) return '"orgId" is neither null nor a UUID';
  const dataProblem = jsonProblem(data);
  if (dataProblem !== undefined) return `"data" ${dataProblem}`;
  if (!isPlainObject(metadata)) return '"metadata" is not a JSON object';
  const metadataProblem = jsonProblem(metadata);
  if (metadataProblem !== undefined) return `"metadata" ${metadataProblem}`;
  if (typeof recordedAt !== 'string' || !CANONICAL_INSTANT.test(recordedAt) || !isCanonicalInstant(recordedAt)) {
    return '"recordedAt" is not YYYY-MM-DDTHH:MM:SS.ffffffZ';
  }
  return {
    position: position as string,
    transactionId: transactionId as string,
    id: id as string,
    streamId: streamId as string,
    revision: revision as string,
    type: type as string,
    orgId: orgId as string | null,
    data: data as JsonValue,
    metadata: metadata as JsonObject,
    recordedAt,
  };
}

function isCanonicalInstant(value: string): boolean {
  try {
    return canonicalTimestamp(value) === value;
  } catch {
    return false;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function membersProblem(value: Record<string, unknown>, expected: readonly string[]): string | undefined {
  const unknown = Object.keys(value).filter((name) => !expected.includes(name));
  if (unknown.length > 0) return `has members the format does not define: ${unknown.map((name) => JSON.stringify(name)).join(', ')}`;
  const missing = expected.filter((name) => !Object.hasOwn(value, name));
  if (missing.length > 0) return `lacks ${missing.map((name) => JSON.stringify(name)).join(', ')}`;
  return undefined;
}
