import type { AuditJwks } from './audit-keys';
import type { CanonicalEvent } from './canonical-event';
import { canonicalJsonBytes } from './canonical-json';
import { verifyCheckpoint, type SignedCheckpoint } from './checkpoint';
import { parseExportRecord, type ExportCheckpointRecord, type ExportEventRecord, type ExportHeader, type ExportRecord } from './export-format';
import { chainOf, compareGlobalOrder, nextHead, type ChainId, type ChainState } from './hash-chain';
import { peekable, type Peekable } from './peekable';

/**
 * Verifies an audit export from its first line to its last, in constant memory, trusting nothing in the file but
 * what the published audit keys sign:
 *
 * - every event's chain hash is recomputed from the header's previous head, so an edit anywhere breaks the chain at
 *   that line;
 * - counts run on by one and events follow the store's global order, so a deletion, a duplicate or a swap is named
 *   at the line where it shows;
 * - every checkpoint's signature is checked against the JWKS, and its (count, position, head) against the chain as
 *   recomputed at that line, so a rewrite that recomputed every later hash still fails at the first checkpoint
 *   signed before it;
 * - the file must end with a checkpoint covering its last event, issued no earlier than the export began.
 *
 * The first problem is reported, with the line (1-based) and the position of the event or checkpoint it concerns.
 */

export type ExportProblem =
  | 'hash-mismatch'
  | 'count-gap'
  | 'reordered'
  | 'bad-signature'
  | 'checkpoint-mismatch'
  | 'truncated'
  | 'malformed';

export interface ExportVerified {
  readonly ok: true;
  readonly chain: ChainId;
  /** Events in the file. */
  readonly events: number;
  /** The final checkpoint: keep it, and pass it as an anchor when verifying later exports. */
  readonly checkpoint: SignedCheckpoint;
  /** How many of the given anchors fell within the file and matched; the others were not checked. */
  readonly anchorsChecked: number;
}

export interface ExportRejected {
  readonly ok: false;
  readonly problem: ExportProblem;
  /** The position of the event or checkpoint concerned; null where none is (the header, an unreadable line). */
  readonly position: string | null;
  /** 1-based; 0 for an empty file. */
  readonly line: number;
  readonly detail: string;
}

export type ExportVerification = ExportVerified | ExportRejected;

/**
 * A chain head an auditor kept from an earlier export (its final checkpoint, say). A file that covers its count
 * must pass through its head; that is what exposes a rewrite by someone who holds the database and re-signs the
 * tail, which no signature in the new file alone can show.
 */
export interface KeptCheckpoint {
  readonly count: number;
  readonly head: string;
}

export interface VerifyExportOptions {
  readonly anchors?: readonly KeptCheckpoint[];
}

/** A record read from an export file with its line number, or why the line is not a record. */
export type NumberedRecord = { readonly line: number; readonly record: ExportRecord } | { readonly line: number; readonly error: string };

/** Verifies a JSONL export given line by line (a trailing `\r` is ignored, as are blank lines at the end). */
export function verifyExport(lines: AsyncIterable<string> | Iterable<string>, jwks: AuditJwks, options: VerifyExportOptions = {}): Promise<ExportVerification> {
  return verifyExportRecords(jsonlRecords(lines), jwks, options);
}

/** One line for people: "verified 120 events … up to checkpoint …" or the problem, where it is and why. */
export function describeVerification(result: ExportVerification): string {
  if (!result.ok) {
    const where = result.position === null ? `line ${result.line}` : `line ${result.line}, position ${result.position}`;
    return `${result.problem} at ${where}: ${result.detail}`;
  }
  const { checkpoint } = result;
  return (
    `verified ${result.events} events of chain ${result.chain} up to checkpoint count ${checkpoint.count}` +
    ` at position ${checkpoint.position ?? '(none)'}, head ${checkpoint.head}, issued ${checkpoint.issuedAt} by key ${checkpoint.keyId}`
  );
}

async function* jsonlRecords(lines: AsyncIterable<string> | Iterable<string>): AsyncGenerator<NumberedRecord> {
  let line = 0;
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
    yield readRecord(line, text);
  }
}

/** Parses one line of JSON into a record. */
export function readRecord(line: number, text: string): NumberedRecord {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { line, error: 'is not JSON' };
  }
  const record = parseExportRecord(json);
  return typeof record === 'string' ? { line, error: record } : { line, record };
}

/** The verification itself, over records from any carrier (JSONL here, CSV in export-csv.ts). */
export async function verifyExportRecords(
  source: AsyncIterable<NumberedRecord> | Iterable<NumberedRecord>,
  jwks: AuditJwks,
  options: VerifyExportOptions = {},
): Promise<ExportVerification> {
  const records = peekable(source);
  const first = await records.take();
  if (first === undefined) return rejected('truncated', null, 0, 'the file is empty: it has no header');
  if ('error' in first) {
    const atEnd = (await records.peek()) === undefined;
    return rejected(atEnd ? 'truncated' : 'malformed', null, first.line, `the header line ${first.error}`);
  }
  if (first.record.kind !== 'header') return rejected('malformed', null, first.line, `the first line is a ${first.record.kind}, not the header`);
  const header = first.record;
  const verifier = new ChainVerifier(header, jwks, options.anchors ?? []);
  const atStart = verifier.anchor(first.line, null);
  if (atStart) return atStart;

  let last: ExportRecord = header;
  let lastLine = first.line;
  for (let current = await records.take(); current !== undefined; current = await records.take()) {
    lastLine = current.line;
    if ('error' in current) {
      if ((await records.peek()) === undefined) {
        return rejected('truncated', verifier.state.lastPosition, current.line, `the last line ${current.error}: the file is cut off after the event at position ${verifier.state.lastPosition ?? '(none)'}`);
      }
      return rejected('malformed', null, current.line, `the line ${current.error}`);
    }
    const { record, line } = current;
    let problem: ExportRejected | undefined;
    switch (record.kind) {
      case 'header':
        problem = rejected('malformed', null, line, `a second header (the first is on line ${first.line})`);
        break;
      case 'event':
        problem = await verifier.event(record, line, records);
        break;
      case 'checkpoint':
        problem = verifier.checkpoint(record, line);
        break;
      default: {
        const _exhaustive: never = record;
        return _exhaustive;
      }
    }
    if (problem) return problem;
    last = record;
  }

  const { state } = verifier;
  if (last.kind !== 'checkpoint') {
    const what = last.kind === 'event' ? `the event at position ${last.event.position} (count ${last.count})` : 'the header';
    return rejected('truncated', state.lastPosition, lastLine, `the file ends with ${what}, not with a signed checkpoint covering it`);
  }
  if (last.issuedAt < header.exportedAt) {
    // An export's final checkpoint is signed when it is written; an earlier one is a sealer checkpoint the file was cut after.
    return rejected(
      'truncated',
      last.position,
      lastLine,
      `the last checkpoint was issued at ${last.issuedAt}, before the export began at ${header.exportedAt}: the lines after it, and the export's own final checkpoint, are missing`,
    );
  }
  return { ok: true, chain: header.chain, events: verifier.events, checkpoint: withoutKind(last), anchorsChecked: verifier.anchorsChecked };
}

class ChainVerifier {
  state: ChainState;
  events = 0;
  anchorsChecked = 0;
  #previous: { event: CanonicalEvent; line: number } | undefined;
  readonly #anchors: Map<number, string[]>;

  constructor(
    private readonly header: ExportHeader,
    private readonly jwks: AuditJwks,
    anchors: readonly KeptCheckpoint[],
  ) {
    this.state = { chain: header.chain, count: header.previousCount, head: header.previousHead, lastPosition: header.fromPosition };
    this.#anchors = new Map();
    for (const { count, head } of anchors) this.#anchors.set(count, [...(this.#anchors.get(count) ?? []), head]);
  }

  /** Whether the chain, at its current count, passes through every kept head of that count. */
  anchor(line: number, position: string | null): ExportRejected | undefined {
    const { count, head } = this.state;
    for (const kept of this.#anchors.get(count) ?? []) {
      if (kept !== head) {
        return rejected(
          'checkpoint-mismatch',
          position,
          line,
          `a checkpoint kept earlier says the chain's head at count ${count} is ${kept}; this file's chain has ${head} there: the history up to this line was rewritten`,
        );
      }
      this.anchorsChecked += 1;
    }
    return undefined;
  }

  async event(record: ExportEventRecord, line: number, rest: Peekable<NumberedRecord>): Promise<ExportRejected | undefined> {
    const { event, count, chainHash } = record;
    const { position } = event;
    if (chainOf(event.orgId) !== this.header.chain) {
      return rejected('malformed', position, line, `the event at position ${position} belongs to chain ${chainOf(event.orgId)}, not to this export's chain ${this.header.chain}`);
    }
    const previous = this.#previous;
    if (previous !== undefined && compareGlobalOrder(previous.event, event) >= 0) {
      return rejected(
        'reordered',
        position,
        line,
        previous.event.position === position && previous.event.transactionId === event.transactionId
          ? `the event at position ${position} appears twice, on lines ${previous.line} and ${line}`
          : `the event at position ${position} (transaction ${event.transactionId}) comes after the event at position ${previous.event.position} (transaction ${previous.event.transactionId}, line ${previous.line}) but precedes it in the store's global order`,
      );
    }
    const expected = this.state.count + 1;
    if (count > expected) return missingOrMoved(record, line, expected, this.state.lastPosition, rest);
    if (count < expected) {
      return rejected('count-gap', position, line, `the event at position ${position} is counted ${count}, but the chain is at ${this.state.count}: a count repeats or goes back`);
    }
    const head = nextHead(this.state.head, canonicalJsonBytes(event));
    if (head !== chainHash) {
      return rejected(
        'hash-mismatch',
        position,
        line,
        `the event at position ${position} (count ${count}) does not hash to its chainHash: recomputed ${head}, the file says ${chainHash}; ` +
          `this event's content or chain hash was changed${previous ? `, or the chain hash of the event on line ${previous.line}` : ''}`,
      );
    }
    this.state = { chain: this.state.chain, count, head, lastPosition: position };
    this.#previous = { event, line };
    this.events += 1;
    return this.anchor(line, position);
  }

  checkpoint(record: ExportCheckpointRecord, line: number): ExportRejected | undefined {
    const { position } = record;
    if (record.chain !== this.header.chain) {
      return rejected('checkpoint-mismatch', position, line, `the checkpoint is of chain ${record.chain}, not of this export's chain ${this.header.chain}`);
    }
    const verification = verifyCheckpoint(record, this.jwks);
    if (!verification.ok) {
      return rejected('bad-signature', position, line, `the checkpoint (count ${record.count}, issued ${record.issuedAt}) does not verify: ${verification.detail}`);
    }
    const { state } = this;
    if (record.count !== state.count || record.position !== state.lastPosition || record.head !== state.head) {
      return rejected(
        'checkpoint-mismatch',
        position,
        line,
        `the checkpoint signed at ${record.issuedAt} by key ${record.keyId} says count ${record.count}, position ${record.position ?? '(none)'}, head ${record.head}; ` +
          `the chain recomputed up to this line has count ${state.count}, position ${state.lastPosition ?? '(none)'}, head ${state.head}: ` +
          'events before this line were changed, removed or added since the checkpoint was signed',
      );
    }
    return undefined;
  }
}

/**
 * A count that jumps ahead is a deletion unless the events it skipped turn up further on (a swap or a move). Looking
 * ahead reads the rest of the file, one line at a time, keeping nothing but the first such event.
 */
async function missingOrMoved(
  record: ExportEventRecord,
  line: number,
  expected: number,
  after: string | null,
  rest: Peekable<NumberedRecord>,
): Promise<ExportRejected> {
  const { position } = record.event;
  for (let next = await rest.take(); next !== undefined; next = await rest.take()) {
    if ('record' in next && next.record.kind === 'event' && next.record.count >= expected && next.record.count < record.count) {
      return rejected(
        'reordered',
        position,
        line,
        `the event at position ${position} is counted ${record.count} where the chain expects ${expected}; ` +
          `the event counted ${next.record.count} (position ${next.record.event.position}) comes later, on line ${next.line}`,
      );
    }
  }
  const missing = record.count - expected;
  return rejected(
    'count-gap',
    position,
    line,
    `the event at position ${position} is counted ${record.count} where the chain expects ${expected}: ` +
      `${missing} event${missing === 1 ? ' is' : 's are'} missing between position ${after ?? '(the chain start)'} and it`,
  );
}

function rejected(problem: ExportProblem, position: string | null, line: number, detail: string): ExportRejected {
  return { ok: false, problem, position, line, detail };
}

function withoutKind({ chain, position, count, head, issuedAt, keyId, signature }: ExportCheckpointRecord): SignedCheckpoint {
  return { chain, position, count, head, issuedAt, keyId, signature };
}
