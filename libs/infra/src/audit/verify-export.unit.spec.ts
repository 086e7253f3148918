import { sign } from 'node:crypto';
import { auditKeysJwks, generateAuditKey, withRetirement } from './audit-keys';
import { canonicalJson } from './canonical-json';
import type { StoredEvent } from './canonical-event';
import { checkpointSigner, checkpointSigningInput, signCheckpoint, type Checkpoint } from './checkpoint';
import { chainOf, emptyChain, PLATFORM_CHAIN, type ChainId } from './hash-chain';
import { describeVerification, verifyExport, type ExportVerification } from './verify-export';
import { at, eventsOf, exportToLines, ORG_A, ORG_B, parseLine, seal, syntheticLog } from './testing/audit-test-kit';

// A few hundred events over two organisations and the platform, sealed in batches with a checkpoint every 40
// events of a chain, an hour before the export.
const log = syntheticLog(400);
const auditKey = generateAuditKey(at(-7200));
const jwks = auditKeysJwks([auditKey]);
const sealed = seal(log, auditKey, { every: 40, issuedAt: at(-3600) });
const CHAIN_A = chainOf(ORG_A);
const CHAIN_B = chainOf(ORG_B);

function exportOf(chain: ChainId, events: readonly StoredEvent[] = eventsOf(log, chain)): Promise<string[]> {
  return exportToLines({
    from: emptyChain(chain),
    events,
    checkpoints: sealed.get(chain)!.checkpoints,
    sign: checkpointSigner(auditKey),
    now: () => at(0),
  });
}

let linesA: string[];
beforeAll(async () => {
  linesA = await exportOf(CHAIN_A);
});

const kindOf = (line: string) => parseLine(line).kind;
const eventOf = (line: string) => parseLine(line).event as { position: string; data: Record<string, unknown>; metadata: Record<string, unknown> };

/** Index of an event line in the middle of the file whose neighbours on both sides are event lines too. */
function middleEventIndex(lines: readonly string[], from = Math.floor(lines.length / 2)): number {
  for (let index = from; index < lines.length - 1; index++) {
    if ([index - 1, index, index + 1, index + 2].every((i) => kindOf(lines[i]!) === 'event')) return index;
  }
  throw new Error('no event with event neighbours');
}

function replaced(lines: readonly string[], index: number, edit: (record: Record<string, unknown>) => void): string[] {
  const record = parseLine(lines[index]!);
  edit(record);
  return lines.map((line, i) => (i === index ? JSON.stringify(record) : line));
}

function rejection(result: ExportVerification) {
  if (result.ok) throw new Error(`expected a rejection, got: ${describeVerification(result)}`);
  return result;
}

describe('verifying an audit export', () => {
  it('an untouched export verifies, for each organisation and for the platform chain', async () => {
    for (const chain of [CHAIN_A, CHAIN_B, PLATFORM_CHAIN]) {
      const lines = chain === CHAIN_A ? linesA : await exportOf(chain);
      const { state, checkpoints } = sealed.get(chain)!;
      const result = await verifyExport(lines, jwks);
      expect(result).toEqual({ ok: true, chain, events: state.count, checkpoint: expect.objectContaining({ count: state.count, head: state.head, position: state.lastPosition }), anchorsChecked: 0 });
      expect(lines.filter((line) => kindOf(line) === 'checkpoint')).toHaveLength(checkpoints.length + 1);
    }
    expect(sealed.get(CHAIN_A)!.state.count).toBeGreaterThan(150);
    expect(sealed.get(CHAIN_B)!.state.count).toBeGreaterThan(150);
  });

  it('the verdict reads "verified N events up to checkpoint K"', async () => {
    const result = await verifyExport(linesA, jwks);
    const { state } = sealed.get(CHAIN_A)!;
    expect(describeVerification(result)).toBe(
      `verified ${state.count} events of chain ${CHAIN_A} up to checkpoint count ${state.count} at position ${state.lastPosition}, head ${state.head}, issued ${at(0).toISOString()} by key ${auditKey.kid}`,
    );
  });

  it('an edited payload is a hash mismatch at its line and position', async () => {
    const index = middleEventIndex(linesA);
    const tampered = replaced(linesA, index, (record) => {
      const data = (record.event as { data: { priority: number } }).data;
      data.priority += 1;
    });
    const result = rejection(await verifyExport(tampered, jwks));
    const { position } = eventOf(linesA[index]!);
    expect(result).toMatchObject({ problem: 'hash-mismatch', line: index + 1, position });
    expect(result.detail).toContain(`the event at position ${position}`);
  });

  it('an edited ciphertext is a hash mismatch at its line and position, though nothing is decrypted', async () => {
    const index = middleEventIndex(linesA, 20);
    const tampered = replaced(linesA, index, (record) => {
      const title = (record.event as { data: { title: { ciphertext: string } } }).data.title;
      title.ciphertext = `${title.ciphertext.slice(0, -1)}${title.ciphertext.endsWith('A') ? 'B' : 'A'}`;
    });
    expect(await verifyExport(tampered, jwks)).toMatchObject({ ok: false, problem: 'hash-mismatch', line: index + 1, position: eventOf(linesA[index]!).position });
  });

  it('edited metadata is a hash mismatch at its line and position', async () => {
    const index = middleEventIndex(linesA, 30);
    const tampered = replaced(linesA, index, (record) => {
      const actor = (record.event as { metadata: { actor: { type: string } } }).metadata.actor;
      actor.type = actor.type === 'agent' ? 'human' : 'agent';
    });
    expect(await verifyExport(tampered, jwks)).toMatchObject({ ok: false, problem: 'hash-mismatch', line: index + 1, position: eventOf(linesA[index]!).position });
  });

  it('an edited recorded time or chain hash is a hash mismatch too', async () => {
    const index = middleEventIndex(linesA, 40);
    const retimed = replaced(linesA, index, (record) => {
      const event = record.event as { recordedAt: string };
      event.recordedAt = event.recordedAt.replace(/\.\d{6}Z$/, '.000000Z');
    });
    expect(await verifyExport(retimed, jwks)).toMatchObject({ ok: false, problem: 'hash-mismatch', line: index + 1 });
    const rehashed = replaced(linesA, index, (record) => {
      record.chainHash = 'f'.repeat(64);
    });
    expect(await verifyExport(rehashed, jwks)).toMatchObject({ ok: false, problem: 'hash-mismatch', line: index + 1 });
  });

  it('a deleted event is a count gap at the line after it, naming the position that follows the gap', async () => {
    const index = middleEventIndex(linesA);
    const tampered = linesA.filter((_line, i) => i !== index);
    const result = rejection(await verifyExport(tampered, jwks));
    const following = eventOf(linesA[index + 1]!).position;
    expect(result).toMatchObject({ problem: 'count-gap', line: index + 1, position: following });
    expect(result.detail).toContain('1 event is missing between position');
    expect(result.detail).toContain(`${eventOf(linesA[index - 1]!).position} and it`);
  });

  it('two swapped events are a reordering, named at the first of them', async () => {
    const index = middleEventIndex(linesA);
    const tampered = [...linesA];
    [tampered[index], tampered[index + 1]] = [linesA[index + 1]!, linesA[index]!];
    const result = rejection(await verifyExport(tampered, jwks));
    expect(result).toMatchObject({ problem: 'reordered', line: index + 1, position: eventOf(linesA[index + 1]!).position });
    expect(result.detail).toContain(`comes later, on line ${index + 2}`);
  });

  it('an event moved far from its place is a reordering too, not a gap', async () => {
    const index = middleEventIndex(linesA, 10);
    const tampered = [...linesA];
    const [moved] = tampered.splice(index, 1);
    tampered.splice(index + 30, 0, moved!);
    expect(await verifyExport(tampered, jwks)).toMatchObject({ ok: false, problem: 'reordered', line: index + 1 });
  });

  it('a truncated tail is named at the last line, after the last event that is there', async () => {
    let cut = linesA.length - 5;
    while (kindOf(linesA[cut - 1]!) !== 'event') cut -= 1;
    const result = rejection(await verifyExport(linesA.slice(0, cut), jwks));
    expect(result).toMatchObject({ problem: 'truncated', line: cut, position: eventOf(linesA[cut - 1]!).position });
    expect(result.detail).toContain('not with a signed checkpoint covering it');
  });

  it('a tail cut right after a sealer checkpoint is still truncation: that checkpoint predates the export', async () => {
    const lastSealed = linesA.slice(0, -1).map(kindOf).lastIndexOf('checkpoint');
    expect(lastSealed).toBeGreaterThan(0);
    const result = rejection(await verifyExport(linesA.slice(0, lastSealed + 1), jwks));
    expect(result).toMatchObject({ problem: 'truncated', line: lastSealed + 1 });
    expect(result.detail).toContain('before the export began');
  });

  it('a last line cut in the middle is truncation, not a malformed line', async () => {
    const last = linesA.length - 1;
    const cut = [...linesA.slice(0, last), linesA[last]!.slice(0, 40)];
    expect(await verifyExport(cut, jwks)).toMatchObject({ ok: false, problem: 'truncated', line: linesA.length });
  });

  describe('forged checkpoint signatures are named at their line', () => {
    const last = () => linesA.length - 1;

    it('a signature changed by one bit', async () => {
      const tampered = replaced(linesA, last(), (record) => {
        const bytes = Buffer.from(record.signature as string, 'base64url');
        bytes[0]! ^= 1;
        record.signature = bytes.toString('base64url');
      });
      const result = rejection(await verifyExport(tampered, jwks));
      expect(result).toMatchObject({ problem: 'bad-signature', line: linesA.length, position: sealed.get(CHAIN_A)!.state.lastPosition });
      expect(result.detail).toContain(`does not verify with key ${auditKey.kid}`);
    });

    it('a checkpoint re-signed by another key under the published kid', async () => {
      const forger = generateAuditKey(at(0));
      const tampered = replaced(linesA, last(), (record) => {
        const checkpoint = record as unknown as Checkpoint;
        record.signature = sign(null, checkpointSigningInput(checkpoint), forger.privateKey!).toString('base64url');
      });
      expect(await verifyExport(tampered, jwks)).toMatchObject({ ok: false, problem: 'bad-signature', line: linesA.length });
    });

    it('a checkpoint signed by a key that is not published', async () => {
      const forger = generateAuditKey(at(0));
      const tampered = replaced(linesA, last(), (record) => {
        const { kind: _kind, signature: _signature, keyId: _keyId, ...statement } = record as unknown as Checkpoint & { kind: string; signature: string };
        Object.assign(record, signCheckpoint(statement, forger));
      });
      const result = rejection(await verifyExport(tampered, jwks));
      expect(result).toMatchObject({ problem: 'bad-signature', line: linesA.length });
      expect(result.detail).toContain(`no published audit key has kid "${forger.kid}"`);
    });

    it('a sealer checkpoint in the middle of the file', async () => {
      const index = linesA.map(kindOf).indexOf('checkpoint');
      const tampered = replaced(linesA, index, (record) => {
        record.head = 'a'.repeat(64);
      });
      expect(await verifyExport(tampered, jwks)).toMatchObject({ ok: false, problem: 'bad-signature', line: index + 1, position: parseLine(linesA[index]!).position });
    });
  });

  describe('rewrites by someone who holds the database', () => {
    it('an event edited in the store and re-exported with every hash recomputed fails at the next sealer checkpoint', async () => {
      const events = eventsOf(log, CHAIN_A);
      const victim = 45; // between the sealer's checkpoints at counts 40 and 80
      const rewritten = events.map((event, i) => (i === victim ? { ...event, data: { rewritten: true } } : event));
      const lines = await exportOf(CHAIN_A, rewritten);
      const result = rejection(await verifyExport(lines, jwks));
      const checkpointLine = lines.findIndex((line) => kindOf(line) === 'checkpoint' && parseLine(line).count === 80);
      expect(result).toMatchObject({ problem: 'checkpoint-mismatch', line: checkpointLine + 1, position: sealed.get(CHAIN_A)!.checkpoints[1]!.position });
      expect(result.detail).toContain('says count 80');
    });

    it('an event deleted from the store, with the chain recounted and rehashed, fails at the next sealer checkpoint', async () => {
      const events = eventsOf(log, CHAIN_A).filter((_event, i) => i !== 10);
      const lines = await exportOf(CHAIN_A, events);
      const result = rejection(await verifyExport(lines, jwks));
      expect(result).toMatchObject({ problem: 'checkpoint-mismatch', position: sealed.get(CHAIN_A)!.checkpoints[0]!.position });
      expect(result.detail).toContain('says count 40');
    });

    it('a rewrite after the last sealer checkpoint is caught by a checkpoint the org admin kept from an earlier export', async () => {
      const original = await verifyExport(linesA, jwks);
      if (!original.ok) throw new Error('the original export must verify');
      const kept = { count: original.checkpoint.count, head: original.checkpoint.head };
      const events = eventsOf(log, CHAIN_A);
      const rewritten = events.map((event, i) => (i === events.length - 1 ? { ...event, metadata: { ...(event.metadata as object), ip: null } } : event));
      const lines = await exportOf(CHAIN_A, rewritten);
      // Freshly signed at export time, the rewritten file verifies on its own…
      expect(await verifyExport(lines, jwks)).toMatchObject({ ok: true });
      // …but not through the head the admin kept.
      expect(await verifyExport(lines, jwks, { anchors: [kept] })).toMatchObject({ ok: false, problem: 'checkpoint-mismatch', line: lines.length - 1 });
      expect(await verifyExport(linesA, jwks, { anchors: [kept] })).toMatchObject({ ok: true, anchorsChecked: 1 });
    });
  });

  it('an export that continues from a previous head verifies, its first sealer checkpoint vouching for the header', async () => {
    const { checkpoints, state } = sealed.get(CHAIN_A)!;
    const start = checkpoints[1]!;
    const lines = await exportToLines({
      from: { chain: CHAIN_A, count: start.count, head: start.head, lastPosition: start.position },
      events: eventsOf(log, CHAIN_A).slice(start.count),
      checkpoints,
      sign: checkpointSigner(auditKey),
      now: () => at(0),
    });
    expect(parseLine(lines[0]!)).toMatchObject({ kind: 'header', previousCount: 80, previousHead: start.head, fromPosition: start.position });
    expect(parseLine(lines[1]!)).toMatchObject({ kind: 'checkpoint', count: 80 });
    expect(await verifyExport(lines, jwks)).toMatchObject({ ok: true, events: state.count - 80, checkpoint: { count: state.count } });
    // A forged starting point fails at that first checkpoint.
    const forgedHeader = replaced(lines, 0, (header) => {
      header.previousHead = 'e'.repeat(64);
    });
    expect(await verifyExport(forgedHeader, jwks)).toMatchObject({ ok: false, problem: 'checkpoint-mismatch', line: 2 });
  });

  it('checkpoints signed by a key since retired verify while the key stays in the JWKS', async () => {
    const retired = withRetirement(auditKey, at(-1800));
    const successor = generateAuditKey(at(-1800));
    const lines = await exportToLines({
      from: emptyChain(CHAIN_B),
      events: eventsOf(log, CHAIN_B),
      checkpoints: sealed.get(CHAIN_B)!.checkpoints,
      sign: checkpointSigner(successor),
      now: () => at(0),
    });
    expect(await verifyExport(lines, auditKeysJwks([retired, successor]))).toMatchObject({ ok: true });
    expect(await verifyExport(lines, auditKeysJwks([successor]))).toMatchObject({ ok: false, problem: 'bad-signature' });
  });

  describe('files that are not exports', () => {
    it('an event of another organisation slipped in is named', async () => {
      const index = middleEventIndex(linesA);
      const foreign = (await exportOf(CHAIN_B))[5]!;
      const tampered = [...linesA.slice(0, index), foreign, ...linesA.slice(index)];
      expect(await verifyExport(tampered, jwks)).toMatchObject({ ok: false, problem: 'malformed', line: index + 1, position: eventOf(foreign).position });
    });

    it('an event repeated is named as appearing twice', async () => {
      const index = middleEventIndex(linesA);
      const tampered = [...linesA.slice(0, index + 1), linesA[index]!, ...linesA.slice(index + 1)];
      const result = rejection(await verifyExport(tampered, jwks));
      expect(result).toMatchObject({ problem: 'reordered', line: index + 2 });
      expect(result.detail).toContain(`appears twice, on lines ${index + 1} and ${index + 2}`);
    });

    it('a member the format does not define is refused, so nothing rides along unsigned', async () => {
      const index = middleEventIndex(linesA);
      const tampered = replaced(linesA, index, (record) => {
        (record.event as Record<string, unknown>).approvedBy = 'the CEO';
      });
      const result = rejection(await verifyExport(tampered, jwks));
      expect(result).toMatchObject({ problem: 'malformed', line: index + 1 });
      expect(result.detail).toContain('"approvedBy"');
    });

    it.each<[string, string[], object]>([
      ['an empty file', [], { problem: 'truncated', line: 0 }],
      ['a file without a header', ['{"kind":"event"}', '{}'], { problem: 'malformed', line: 1 }],
      ['a header of another format', [JSON.stringify({ kind: 'header', format: 'bastion-audit-export/2' }), '{}'], { problem: 'malformed', line: 1 }],
      ['a header alone', [], { problem: 'truncated', line: 1 }],
      ['a blank line inside', ['', ''], { problem: 'malformed', line: 2 }],
    ])('%s', async (what, lines, expected) => {
      const file = what === 'a header alone' ? [linesA[0]!] : what === 'a blank line inside' ? [linesA[0]!, '', ...linesA.slice(1)] : lines;
      expect(await verifyExport(file, jwks)).toMatchObject({ ok: false, ...expected });
    });

    it('trailing blank lines and CRLF line ends are accepted', async () => {
      expect(await verifyExport([...linesA.map((line) => `${line}\r`), '', ''], jwks)).toMatchObject({ ok: true });
    });
  });

  it('each event line holds the canonical form, so the chain can be checked with sha256sum and jq alone', () => {
    const line = linesA[1]!;
    const text = line.slice(line.indexOf('"event":') + '"event":'.length, -1);
    expect(text).toBe(canonicalJson(JSON.parse(text)));
  });
});
