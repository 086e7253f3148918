import type { AuditJwks } from './audit-keys';
import { canonicalJson } from './canonical-json';
import { auditExportRecords, exportLine, parseCanonicalEvent, type AuditExportOptions, type ExportRecord } from './export-format';
import { isHead } from './hash-chain';
import { readRecord, verifyExportRecords, type ExportVerification, type NumberedRecord, type VerifyExportOptions } from './verify-export';

/**
 * The same export as CSV (RFC 4180, CRLF), for spreadsheets:
 *
 *   # bastion-audit-export/1 csv: …                       a comment naming the format
 *   # header {…}                                          the JSONL header line, verbatim
 *   count,chain_hash,position,transaction_id,recorded_at,type,stream_id,canonical_event
 *   1,<hex>,…,"{""data"":…}"                              one row per event
 *   # checkpoint {…}                                      the JSONL checkpoint lines, verbatim, in place
 *
 * `canonical_event` is the event's canonical form, the bytes the chain hashed; the columns before it repeat some of
 * its fields for filtering and sorting, and the verifier refuses a row where they disagree with it. No cell can
 * start with `=`, `+`, `-` or `@` (hex, digits, a type name, a stream id, a JSON object), so a spreadsheet evaluates
 * none of them as a formula.
 */

export const CSV_PREAMBLE =
  '# bastion-audit-export/1 csv: the "# header" and "# checkpoint" lines carry the header and the signed checkpoints as JSON; see docs/audit-export.md';
export const CSV_COLUMNS = ['count', 'chain_hash', 'position', 'transaction_id', 'recorded_at', 'type', 'stream_id', 'canonical_event'] as const;

const HEADER_PREFIX = '# header ';
const CHECKPOINT_PREFIX = '# checkpoint ';

/** An export as CSV lines, each ending in CRLF. */
export async function* auditExportCsv(options: AuditExportOptions): AsyncGenerator<string> {
  yield* csvLines(auditExportRecords(options));
}

export async function* csvLines(records: AsyncIterable<ExportRecord> | Iterable<ExportRecord>): AsyncGenerator<string> {
  yield `${CSV_PREAMBLE}\r\n`;
  for await (const record of records) {
    switch (record.kind) {
      case 'header':
        yield `${HEADER_PREFIX}${exportLine(record)}\r\n${CSV_COLUMNS.join(',')}\r\n`;
        break;
      case 'checkpoint':
        yield `${CHECKPOINT_PREFIX}${exportLine(record)}\r\n`;
        break;
      case 'event': {
        const { event } = record;
        const cells = [String(record.count), record.chainHash, event.position, event.transactionId, event.recordedAt, event.type, event.streamId, canonicalJson(event)];
        yield `${cells.map(csvCell).join(',')}\r\n`;
        break;
      }
      default: {
        const _exhaustive: never = record;
        return _exhaustive;
      }
    }
  }
}

/** Verifies a CSV export given line by line; line numbers in the result are the file's. */
export function verifyCsvExport(lines: AsyncIterable<string> | Iterable<string>, jwks: AuditJwks, options: VerifyExportOptions = {}): Promise<ExportVerification> {
  return verifyExportRecords(csvRecords(lines), jwks, options);
}

async function* csvRecords(lines: AsyncIterable<string> | Iterable<string>): AsyncGenerator<NumberedRecord> {
  let line = 0;
  let columnsSeen = false;
  let blank: number | undefined;
  for await (const raw of lines) {
    line += 1;
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (text.trim() === '') {
      blank ??= line;
      continue;
    }
    if (blank !== undefined) {
      yield { line: blank, error: 'is blank, inside the file' };
      blank = undefined;
    }
    if (text.startsWith(HEADER_PREFIX)) yield readRecord(line, text.slice(HEADER_PREFIX.length));
    else if (text.startsWith(CHECKPOINT_PREFIX)) yield readRecord(line, text.slice(CHECKPOINT_PREFIX.length));
    else if (text.startsWith('#')) continue;
    else if (!columnsSeen) {
      columnsSeen = true;
      if (text !== CSV_COLUMNS.join(',')) yield { line, error: `is not the column row ${CSV_COLUMNS.join(',')}` };
    } else yield eventRow(line, text);
  }
}

function eventRow(line: number, text: string): NumberedRecord {
  const cells = parseCsvRow(text);
  if (cells === undefined || cells.length !== CSV_COLUMNS.length) return { line, error: `is not a row of ${CSV_COLUMNS.length} CSV cells` };
  const [count, chainHash, position, transactionId, recordedAt, type, streamId, canonical] = cells as [string, string, string, string, string, string, string, string];
  if (!/^[1-9][0-9]{0,15}$/.test(count) || !Number.isSafeInteger(Number(count))) return { line, error: 'has a count that is not a positive integer' };
  if (!isHead(chainHash)) return { line, error: 'has a chain_hash that is not 64 lower-case hex digits' };
  let json: unknown;
  try {
    json = JSON.parse(canonical);
  } catch {
    return { line, error: 'has a canonical_event that is not JSON' };
  }
  const event = parseCanonicalEvent(json);
  if (typeof event === 'string') return { line, error: `has a canonical_event that ${event}` };
  const columns = { position, transaction_id: transactionId, recorded_at: recordedAt, type, stream_id: streamId };
  const fromEvent = { position: event.position, transaction_id: event.transactionId, recorded_at: event.recordedAt, type: event.type, stream_id: event.streamId };
  for (const name of Object.keys(columns) as (keyof typeof columns)[]) {
    if (columns[name] !== fromEvent[name]) {
      return { line, error: `has a ${name} column (${JSON.stringify(columns[name])}) that disagrees with its canonical_event (${JSON.stringify(fromEvent[name])})` };
    }
  }
  return { line, record: { kind: 'event', count: Number(count), chainHash, event } };
}

function csvCell(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** One RFC 4180 record on one line; undefined if its quoting is broken. */
export function parseCsvRow(text: string): string[] | undefined {
  const cells: string[] = [];
  let index = 0;
  for (;;) {
    if (text[index] === '"') {
      let cell = '';
      index += 1;
      for (;;) {
        const quote = text.indexOf('"', index);
        if (quote < 0) return undefined;
        cell += text.slice(index, quote);
        if (text[quote + 1] === '"') {
          cell += '"';
          index = quote + 2;
        } else {
          index = quote + 1;
          break;
        }
      }
      cells.push(cell);
    } else {
      const comma = text.indexOf(',', index);
      const end = comma < 0 ? text.length : comma;
      const cell = text.slice(index, end);
      if (cell.includes('"')) return undefined;
      cells.push(cell);
      index = end;
    }
    if (index === text.length) return cells;
    if (text[index] !== ',') return undefined;
    index += 1;
  }
}
