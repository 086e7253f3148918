import { StoredEventInvalidError } from './audit-errors';
import { canonicalEventJson, canonicalTimestamp, storedEventFromRow, toCanonicalEvent, type StoredEvent } from './canonical-event';

const ORG = '0193a1f0-0000-7000-8000-00000000000a';

const stored: StoredEvent = {
  position: '42',
  transactionId: '5003',
  id: '0193a1f0-1111-7000-8000-000000000001',
  streamId: 'task-0193a1f0-2222-7000-8000-000000000002',
  revision: '0',
  type: 'TaskCreated',
  orgId: ORG,
  data: { title: { ciphertext: 'gAAAAABn…', keyVersion: 3 }, priority: 2 },
  metadata: { orgId: ORG, actor: { type: 'human', id: '0193a1f0-3333-7000-8000-000000000003' }, schemaVersion: 1 },
  recordedAt: '2026-11-25 12:00:00.123456+00',
};

describe('the canonical form of a stored event', () => {
  it('is RFC 8785 JSON of the ten envelope fields, decimals as strings, UTC at microseconds', () => {
    expect(canonicalEventJson(stored)).toBe(
      '{"data":{"priority":2,"title":{"ciphertext":"gAAAAABn…","keyVersion":3}},"id":"0193a1f0-1111-7000-8000-000000000001",' +
        '"metadata":{"actor":{"id":"0193a1f0-3333-7000-8000-000000000003","type":"human"},"orgId":"0193a1f0-0000-7000-8000-00000000000a","schemaVersion":1},' +
        '"orgId":"0193a1f0-0000-7000-8000-00000000000a","position":"42","recordedAt":"2026-11-25T12:00:00.123456Z","revision":"0",' +
        '"streamId":"task-0193a1f0-2222-7000-8000-000000000002","transactionId":"5003","type":"TaskCreated"}',
    );
  });

  it('is the same whether the row arrives with pg strings, bigints or numbers, by column name or by field', () => {
    const variants: StoredEvent[] = [
      { ...stored, position: 42n, transactionId: 5003n, revision: 0n },
      { ...stored, position: 42, transactionId: 5003, revision: 0 },
      { ...stored, recordedAt: '2026-11-25T13:00:00.123456+01:00' },
      storedEventFromRow({
        position: '42',
        transaction_id: '5003',
        id: stored.id,
        stream_id: stored.streamId,
        revision: '0',
        type: stored.type,
        org_id: ORG,
        data: stored.data,
        metadata: stored.metadata,
        recorded_at: '2026-11-25 12:00:00.123456+00',
      }),
    ];
    for (const variant of variants) expect(canonicalEventJson(variant)).toBe(canonicalEventJson(stored));
  });

  it('covers a platform event, whose orgId is null', () => {
    expect(toCanonicalEvent({ ...stored, orgId: null }).orgId).toBeNull();
    expect(canonicalEventJson({ ...stored, orgId: null })).toContain('"orgId":null,"position"');
  });

  it('keeps ciphertexts and data exactly as stored, never interpreting them', () => {
    const data = { secret: { ciphertext: 'AAEC', aad: 'org|task|title' }, list: [3, 1, 2] };
    expect(toCanonicalEvent({ ...stored, data }).data).toBe(data);
  });

  it.each<[string, Partial<StoredEvent>]>([
    ['a position with a leading zero', { position: '042' }],
    ['a negative revision', { revision: '-1' }],
    ['a position beyond 64 bits', { position: '18446744073709551616' }],
    ['an unsafe number', { transactionId: 2 ** 53 + 2 }],
    ['metadata that is not an object', { metadata: [1] }],
    ['data with a lone surrogate', { data: { s: '\ud800' } }],
    ['an empty type', { type: '' }],
  ])('refuses %s', (_what, change) => {
    expect(() => toCanonicalEvent({ ...stored, ...change })).toThrow(StoredEventInvalidError);
  });
});

describe('recorded_at at fixed microsecond precision', () => {
  it.each([
    ['2026-11-25 12:00:00.123456+00', '2026-11-25T12:00:00.123456Z'],
    ['2026-11-25 12:00:00.1+00', '2026-11-25T12:00:00.100000Z'],
    ['2026-11-25 12:00:00+00', '2026-11-25T12:00:00.000000Z'],
    ['2026-11-25 17:30:00.000001+05:30', '2026-11-25T12:00:00.000001Z'],
    ['2026-11-25 09:00:00.5-03', '2026-11-25T12:00:00.500000Z'],
    ['2026-01-01 00:30:00.25+01', '2025-12-31T23:30:00.250000Z'],
    ['1893-04-01 00:53:28+00:53:28', '1893-04-01T00:00:00.000000Z'],
    ['2026-11-25T12:00:00.123456Z', '2026-11-25T12:00:00.123456Z'],
    ['2028-02-29T23:59:59.999999Z', '2028-02-29T23:59:59.999999Z'],
  ])('PostgreSQL or ISO text %s is %s', (text, expected) => {
    expect(canonicalTimestamp(text)).toBe(expected);
  });

  it('a Date keeps its milliseconds, padded to microseconds', () => {
    expect(canonicalTimestamp(new Date('2026-11-25T12:00:00.123Z'))).toBe('2026-11-25T12:00:00.123000Z');
    expect(canonicalTimestamp(new Date('1969-12-31T23:59:59.999Z'))).toBe('1969-12-31T23:59:59.999000Z');
  });

  it.each([
    ['more than six fractional digits (would need rounding)', '2026-11-25 12:00:00.1234567+00'],
    ['no zone', '2026-11-25 12:00:00.123456'],
    ['a day that does not exist', '2026-02-30 12:00:00+00'],
    ['an hour that does not exist', '2026-11-25 24:00:00+00'],
    ['the Postgres DateStyle', 'Wed Nov 25 12:00:00.123456 2026 UTC'],
    ['a BC date', '0001-01-01 00:00:00+00 BC'],
    ['an invalid Date', new Date(Number.NaN)],
  ])('refuses %s', (_what, value) => {
    expect(() => canonicalTimestamp(value)).toThrow(StoredEventInvalidError);
  });
});
