import { auditKeysJwks, generateAuditKey } from './audit-keys';
import { checkpointSigner } from './checkpoint';
import { auditExportCsv, CSV_COLUMNS, CSV_PREAMBLE, parseCsvRow, verifyCsvExport } from './export-csv';
import { chainOf, emptyChain } from './hash-chain';
import { at, eventsOf, ORG_B, seal, syntheticLog } from './testing/audit-test-kit';

const log = syntheticLog(240);
const auditKey = generateAuditKey(at(-7200));
const jwks = auditKeysJwks([auditKey]);
const CHAIN = chainOf(ORG_B);
const sealed = seal(log, auditKey, { every: 25, issuedAt: at(-3600) });

async function csvExport(): Promise<string[]> {
  const lines: string[] = [];
  const options = { from: emptyChain(CHAIN), events: eventsOf(log, CHAIN), checkpoints: sealed.get(CHAIN)!.checkpoints, sign: checkpointSigner(auditKey), now: () => at(0) };
  for await (const chunk of auditExportCsv(options)) lines.push(...chunk.split('\r\n').slice(0, -1));
  return lines;
}

let lines: string[];
beforeAll(async () => {
  lines = await csvExport();
});

const firstRow = () => lines.findIndex((line, index) => index > 2 && !line.startsWith('#'));

describe('the CSV export', () => {
  it('has the comment lines, the column row, one row per event and the checkpoints in place', () => {
    expect(lines[0]).toBe(CSV_PREAMBLE);
    expect(lines[1]).toMatch(/^# header \{"kind":"header","format":"bastion-audit-export\/1"/);
    expect(lines[2]).toBe(CSV_COLUMNS.join(','));
    expect(lines.filter((line) => !line.startsWith('#')).length - 1).toBe(sealed.get(CHAIN)!.state.count);
    expect(lines.filter((line) => line.startsWith('# checkpoint {')).length).toBe(sealed.get(CHAIN)!.checkpoints.length + 1);
    expect(lines.at(-1)).toMatch(/^# checkpoint \{"kind":"checkpoint"/);
  });

  it('a cell never starts with a character a spreadsheet would evaluate', () => {
    for (const line of lines.filter((line) => !line.startsWith('#'))) {
      for (const cell of parseCsvRow(line)!) expect(cell).not.toMatch(/^[=+\-@\t\r]/);
    }
  });

  it('an untouched CSV export verifies with the same logic as the JSONL one', async () => {
    const { state } = sealed.get(CHAIN)!;
    expect(await verifyCsvExport(lines, jwks)).toMatchObject({ ok: true, events: state.count, checkpoint: { count: state.count, head: state.head } });
  });

  it('an edited payload in the canonical_event column is a hash mismatch at that line of the file', async () => {
    const index = firstRow() + 10;
    const cells = parseCsvRow(lines[index]!)!;
    const tampered = [...lines];
    tampered[index] = lines[index]!.replace('"priority"":', '"priority"":1');
    expect(tampered[index]).not.toBe(lines[index]);
    expect(await verifyCsvExport(tampered, jwks)).toMatchObject({ ok: false, problem: 'hash-mismatch', line: index + 1, position: cells[2] });
  });

  it('a deleted row is a count gap, and a truncated file is truncated', async () => {
    const index = firstRow() + 5;
    expect(await verifyCsvExport(lines.filter((_line, i) => i !== index), jwks)).toMatchObject({ ok: false, problem: 'count-gap', line: index + 1 });
    expect(await verifyCsvExport(lines.slice(0, -2), jwks)).toMatchObject({ ok: false, problem: 'truncated' });
  });

  it('a convenience column that disagrees with the canonical event is refused', async () => {
    const index = firstRow() + 3;
    const cells = parseCsvRow(lines[index]!)!;
    const tampered = [...lines];
    tampered[index] = lines[index]!.replace(`,${cells[5]},`, ',MergeRequestApproved,');
    if (cells[5] === 'MergeRequestApproved') tampered[index] = lines[index]!.replace(`,${cells[5]},`, ',TaskCreated,');
    expect(await verifyCsvExport(tampered, jwks)).toMatchObject({ ok: false, problem: 'malformed', line: index + 1 });
  });

  it('parses RFC 4180 rows: quoted cells, doubled quotes, empty cells', () => {
    expect(parseCsvRow('a,"b,c","d""e",,"{""x"":1}"')).toEqual(['a', 'b,c', 'd"e', '', '{"x":1}']);
    expect(parseCsvRow('a,"unterminated')).toBeUndefined();
    expect(parseCsvRow('a,b"c')).toBeUndefined();
  });
});
