import type { PoolClient } from 'pg';
import { ChainMismatchError, CheckpointRefusedError } from './audit-errors';
import { RECORDED_AT_CANONICAL_SQL, type EventsTableRow, type StoredEvent, storedEventFromRow } from './canonical-event';
import type { CheckpointStatement, SignedCheckpoint } from './checkpoint';
import { auditExportCsv } from './export-csv';
import { auditExportJsonl, type AuditExportOptions } from './export-format';
import { emptyChain, type ChainId, type ChainState } from './hash-chain';

/**
 * The audit export read from the database: the one code path behind the streamed `GET …/audit/export` and the file
 * the `audit-exports` job writes. Events are read page by page, each page in its own short transaction (never one
 * transaction held open across a slow client or a large file: DESIGN §3's gate is cluster-wide), so an export of
 * any size runs in constant memory.
 */

export type AuditExportFileFormat = 'jsonl' | 'csv';
export const AUDIT_EXPORT_FORMATS: readonly AuditExportFileFormat[] = ['jsonl', 'csv'];

export type AuditExportQueryable = Pick<PoolClient, 'query'>;

/**
 * Runs one short read transaction. The API opens it as the requesting principal, so RLS scopes every row to the
 * organisation; the worker as its own role, for the chain named in the export it was asked to write.
 */
export type AuditExportReader = <T>(work: (tx: AuditExportQueryable) => Promise<T>) => Promise<T>;

/** Which sealed events an export covers: chain counts `first..last`, continuing from the chain state `from`. */
export interface AuditExportRange {
  readonly chain: ChainId;
  /** The chain state just before `first`: what the export's header states. */
  readonly from: ChainState;
  /** Null when nothing sealed falls in the window: the export is a header and a checkpoint of `from`. */
  readonly first: number | null;
  readonly last: number | null;
}

export interface AuditExportWindow {
  /** ISO-8601 instants on the events' `occurredAt`, inclusive; null or absent for an open end. */
  readonly from?: string | null;
  readonly to?: string | null;
}

export function auditExportMediaType(format: AuditExportFileFormat): string {
  return format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8';
}

/** The sealed events of a time window, fixed now: events sealed later are not part of this export. */
export async function auditExportRange(tx: AuditExportQueryable, chain: ChainId, window: AuditExportWindow): Promise<AuditExportRange> {
  const bounds = (
    await tx.query<{ first: string | null; last: string | null }>(
      `select min(count) as first, max(count) as last from audit.chain_links
        where chain = $1 and ($2::timestamptz is null or occurred_at >= $2) and ($3::timestamptz is null or occurred_at <= $3)`,
      [chain, window.from ?? null, window.to ?? null],
    )
  ).rows[0]!;
  return auditExportRangeOfCounts(tx, chain, bounds.first === null ? null : Number(bounds.first), bounds.last === null ? null : Number(bounds.last));
}

/** The range `first..last` of a chain, with the sealed state it continues from. */
export async function auditExportRangeOfCounts(tx: AuditExportQueryable, chain: ChainId, first: number | null, last: number | null): Promise<AuditExportRange> {
  let from: ChainState = emptyChain(chain);
  if (first !== null && first > 1) {
    const { rows } = await tx.query<{ count: string; chain_hash: string; position: string }>(
      'select count, chain_hash, position from audit.chain_links where chain = $1 and count = $2',
      [chain, first - 1],
    );
    const previous = rows[0];
    if (!previous) throw new ChainMismatchError(`chain ${chain} has no sealed link ${first - 1} to continue from`);
    from = { chain, count: Number(previous.count), head: previous.chain_hash, lastPosition: String(previous.position) };
  }
  return { chain, from, first, last };
}

/** What an export wrote, for its caller to record. */
export interface AuditExportSummary {
  events: number;
  /** The checkpoint the sealer signed at the end; null when it refused (see `problem`). */
  finalCheckpoint: SignedCheckpoint | null;
  /** Why the export ends without a final checkpoint: the stored events no longer match the sealed chain. */
  problem: string | null;
}

export interface AuditExportStreamOptions {
  readonly format: AuditExportFileFormat;
  readonly range: AuditExportRange;
  readonly read: AuditExportReader;
  /** Asks the sealer to sign the final checkpoint (AuditSigningClient#signer): nothing outside the sealer signs. */
  readonly sign: (statement: CheckpointStatement) => Promise<SignedCheckpoint>;
  readonly now: () => Date;
  /** Filled in as the export is written. */
  readonly summary?: AuditExportSummary;
  /** Events per read transaction. */
  readonly pageSize?: number;
}

const PAGE = 1000;

/**
 * The export as text chunks, each ending in a newline. When the stored events no longer hash to the sealed chain
 * (an edit behind disabled triggers, a reordering), the sealer refuses to sign; the export then ends without its
 * final checkpoint, and the verifier names the first record that does not match and reports the missing checkpoint
 * as truncation. Any other failure (the database, the sealer not answering) is thrown.
 */
export async function* auditExportChunks(options: AuditExportStreamOptions): AsyncGenerator<string> {
  const { format, range, read } = options;
  const summary = options.summary ?? { events: 0, finalCheckpoint: null, problem: null };
  const checkpoints = await read(async (tx) =>
    (
      await tx.query('select * from audit.checkpoints where chain = $1 and count >= $2 and count <= $3 order by count, issued_at', [
        range.chain,
        range.from.count,
        range.last ?? 0,
      ])
    ).rows.map(signedCheckpointFromRow),
  );
  const exportOptions: AuditExportOptions = {
    from: range.from,
    events: countedEvents(sealedEvents(range, read, options.pageSize ?? PAGE), summary),
    checkpoints,
    sign: async (statement) => (summary.finalCheckpoint = await options.sign(statement)),
    now: options.now,
  };
  try {
    for await (const chunk of format === 'csv' ? auditExportCsv(exportOptions) : auditExportJsonl(exportOptions)) yield chunk;
  } catch (error) {
    if (!(error instanceof CheckpointRefusedError || error instanceof ChainMismatchError)) throw error;
    summary.finalCheckpoint = null;
    summary.problem = error.message;
  }
}

/** The chain's events `first..last` as stored now, each with the hash the sealer recorded for it. */
async function* sealedEvents(range: AuditExportRange, read: AuditExportReader, pageSize: number): AsyncGenerator<StoredEvent> {
  if (range.first === null || range.last === null) return;
  let after = range.first - 1;
  while (after < range.last) {
    const rows = await read(async (tx) =>
      (
        await tx.query<EventsTableRow & { count: string; chain_hash: string }>(
          `select l.count, l.chain_hash, e.position, e.transaction_id, e.id, e.stream_id, e.revision, e.type, e.org_id, e.data, e.metadata,
                  ${RECORDED_AT_CANONICAL_SQL.replace('recorded_at', 'e.recorded_at')} as recorded_at
             from audit.chain_links l left join events e on e.position = l.position
            where l.chain = $1 and l.count > $2 and l.count <= $3 order by l.count limit ${Number(pageSize)}`,
          [range.chain, after, range.last],
        )
      ).rows,
    );
    if (rows.length === 0) return;
    for (const row of rows) {
      // A sealed event missing from the store (deleted behind disabled triggers) leaves a gap the verifier names.
      if (row.id) yield { ...storedEventFromRow(row), sealedChainHash: row.chain_hash } as StoredEvent;
    }
    after = Number(rows[rows.length - 1]!.count);
  }
}

async function* countedEvents(events: AsyncIterable<StoredEvent>, summary: AuditExportSummary): AsyncGenerator<StoredEvent> {
  for await (const event of events) {
    summary.events += 1;
    yield event;
  }
}

/** A row of `audit.checkpoints` as a signed checkpoint. */
export function signedCheckpointFromRow(r: Record<string, unknown>): SignedCheckpoint {
  return {
    chain: r.chain as SignedCheckpoint['chain'],
    position: r.position === null ? null : String(r.position),
    count: Number(r.count),
    head: r.head as string,
    issuedAt: (r.issued_at as Date).toISOString(),
    keyId: r.key_id as string,
    signature: r.signature as string,
  };
}
