import { PassThrough, Readable } from 'node:stream';
import {
  ANY,
  type AllStreamResolvedEvent,
  DeadlineExceededError,
  type EventStoreDBClient,
  NO_STREAM,
  NotLeaderError,
  START as ESDB_START,
  STREAM_EXISTS,
  StreamDeletedError,
  StreamNotFoundError,
  UnavailableError,
  WrongExpectedVersionError,
} from '@eventstore/db-client';
import { eventually, newEvent } from '../../../../../test/support/events';
import {
  EventStoreUnavailableError,
  type ExpectedRevision,
  type Position,
  type RecordedEvent,
  START,
  WrongExpectedRevisionError,
} from '../event-store.port';
import { EventStoreDbEventStore } from './eventstoredb-event-store.adapter';
import {
  compareEsdbPositions,
  decodeEsdbPosition,
  encodeEsdbPosition,
  esdbPositionOf,
  expectationHolds,
  fromEsdbCurrentRevision,
  isStreamNotFound,
  isSystemEvent,
  toEsdbEventData,
  toEsdbExpectedRevision,
  toPortError,
  toRecordedEvent,
} from './eventstoredb-mapping';

const UINT64_MAX = 18446744073709551615n;
const at = (n: number) => ({ commit: BigInt(n), prepare: BigInt(n) });

/** What the server hands back for an event written with {@link toEsdbEventData}: JSON in, parsed JSON out. */
function stored(
  streamId: string,
  revision: number,
  n: number,
  overrides: Partial<Record<'type' | 'data' | 'metadata' | 'isJson' | 'position' | 'revision', unknown>> = {},
): AllStreamResolvedEvent {
  const event = newEvent('TaskMoved', { n });
  return {
    event: {
      id: event.id,
      streamId,
      type: event.type,
      revision: BigInt(revision),
      isJson: true,
      created: new Date(0),
      data: JSON.parse(JSON.stringify(event.data)),
      metadata: JSON.parse(JSON.stringify(event.metadata)),
      position: at(n),
      ...overrides,
    },
    commitPosition: BigInt(n),
  } as AllStreamResolvedEvent;
}

describe('EventStoreDB mapping', () => {
  describe('positions', () => {
    it.each([
      [{ commit: 0n, prepare: 0n }, '0/0'],
      [{ commit: 1234n, prepare: 1230n }, '1234/1230'],
      [{ commit: UINT64_MAX, prepare: UINT64_MAX }, `${UINT64_MAX}/${UINT64_MAX}`],
    ])('round-trips %p as %s', (position, encoded) => {
      expect(encodeEsdbPosition(position)).toBe(encoded);
      expect(decodeEsdbPosition(encoded as Position)).toEqual(position);
    });

    it('maps START to the start of $all', () => {
      expect(decodeEsdbPosition(START)).toBe(ESDB_START);
    });

    it.each([
      '',
      'end',
      '1',
      '1/',
      '/1',
      '1/2/3',
      '-1/0',
      '0/-1',
      '01/2',
      '1/02',
      ' 1/2',
      '1/2 ',
      '1.5/2',
      '0x1/2',
      '1e3/2',
      '18446744073709551616/0',
      '0/18446744073709551616',
      '123:456', // a PostgreSQL position
      '１/２', // full-width digits
    ])('refuses the malformed position %j', (raw) => {
      expect(() => decodeEsdbPosition(raw as Position)).toThrow(/Not an EventStoreDB event-store position/);
    });

    it('refuses to encode a position outside 64 unsigned bits', () => {
      expect(() => encodeEsdbPosition({ commit: -1n, prepare: 0n })).toThrow(RangeError);
      expect(() => encodeEsdbPosition({ commit: 0n, prepare: UINT64_MAX + 1n })).toThrow(RangeError);
    });

    it('orders by commit, then by prepare', () => {
      expect(compareEsdbPositions(at(1), at(2))).toBeLessThan(0);
      expect(compareEsdbPositions(at(2), at(1))).toBeGreaterThan(0);
      expect(compareEsdbPositions({ commit: 5n, prepare: 1n }, { commit: 5n, prepare: 2n })).toBeLessThan(0);
      expect(compareEsdbPositions({ commit: 5n, prepare: 9n }, { commit: 6n, prepare: 0n })).toBeLessThan(0);
      expect(compareEsdbPositions(at(3), at(3))).toBe(0);
    });
  });

  describe('expected revision', () => {
    it.each<[ExpectedRevision, unknown]>([
      ['any', ANY],
      ['no_stream', NO_STREAM],
      ['stream_exists', STREAM_EXISTS],
      [0, 0n],
      [41, 41n],
      [Number.MAX_SAFE_INTEGER, BigInt(Number.MAX_SAFE_INTEGER)],
    ])('maps %p to %p', (expected, mapped) => {
      expect(toEsdbExpectedRevision(expected)).toBe(mapped);
    });

    it.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, Number.MAX_SAFE_INTEGER + 1])('refuses the revision %p', (n) => {
      expect(() => toEsdbExpectedRevision(n)).toThrow(RangeError);
    });

    it.each<[ExpectedRevision, number, boolean]>([
      ['any', -1, true],
      ['any', 3, true],
      ['no_stream', -1, true],
      ['no_stream', 0, false],
      ['stream_exists', -1, false],
      ['stream_exists', 0, true],
      [2, 2, true],
      [2, 1, false],
      [0, -1, false],
    ])('%p against a stream at %p holds: %p', (expected, current, holds) => {
      expect(expectationHolds(expected, current)).toBe(holds);
    });

    it('reads the server\'s current revision, a missing stream as -1', () => {
      expect(fromEsdbCurrentRevision(NO_STREAM)).toBe(-1);
      expect(fromEsdbCurrentRevision(7n)).toBe(7);
    });
  });

  describe('errors', () => {
    it('a wrong expected version becomes the port\'s error, with the actual revision', () => {
      const error = new WrongExpectedVersionError(undefined, { streamName: 'task-1', expected: 2n, current: 5n });
      const mapped = toPortError(error, 'task-1', 2);
      expect(mapped).toBeInstanceOf(WrongExpectedRevisionError);
      expect(mapped).toMatchObject({ code: 'EVENT_STORE.WRONG_EXPECTED_REVISION', streamId: 'task-1', expected: 2, actual: 5 });
    });

    it('a wrong expected version on a missing stream reports -1', () => {
      const error = new WrongExpectedVersionError(undefined, { streamName: 'task-1', expected: STREAM_EXISTS, current: NO_STREAM });
      expect(toPortError(error, 'task-1', 'stream_exists')).toMatchObject({ expected: 'stream_exists', actual: -1 });
    });

    it('a wrong expected version without a current revision reports "unknown"', () => {
      const error = new WrongExpectedVersionError(undefined, { streamName: 'task-1', expected: NO_STREAM, current: undefined as never });
      expect(toPortError(error, 'task-1', 'no_stream')).toMatchObject({ actual: null });
    });

    it.each([
      ['unavailable', new UnavailableError()],
      ['deadline exceeded', new DeadlineExceededError()],
    ])('%s becomes EventStoreUnavailableError, keeping the cause', (_, error) => {
      const mapped = toPortError(error, '$all');
      expect(mapped).toBeInstanceOf(EventStoreUnavailableError);
      expect((mapped as EventStoreUnavailableError).cause).toBe(error);
    });

    it('a leader change is something to wait out too', () => {
      const error = Object.create(NotLeaderError.prototype) as NotLeaderError;
      Object.assign(error, { type: 'not-leader', message: 'not leader' });
      expect(toPortError(error, 'task-1', 'any')).toBeInstanceOf(EventStoreUnavailableError);
    });

    it('anything else passes through unchanged', () => {
      const deleted = StreamDeletedError.fromStreamName('task-1');
      const plain = new Error('boom');
      expect(toPortError(deleted, 'task-1', 'any')).toBe(deleted);
      expect(toPortError(plain, 'task-1', 'any')).toBe(plain);
      expect(toPortError('not even an error', 'task-1')).toBe('not even an error');
    });

    it('recognises a missing stream and nothing else', () => {
      expect(isStreamNotFound(new StreamNotFoundError(undefined, 'task-1'))).toBe(true);
      expect(isStreamNotFound(StreamDeletedError.fromStreamName('task-1'))).toBe(false);
      expect(isStreamNotFound(new Error('stream-not-found'))).toBe(false);
      expect(isStreamNotFound(undefined)).toBe(false);
    });
  });

  describe('system events', () => {
    it.each([
      ['$metadata', '$$task-1'],
      ['$>', 'task-1'],
      ['$ProjectionCreated', '$projections-$all'],
      ['$settings', '$settings'],
      ['Anything', '$$task-1'],
      ['TaskMoved', '$stats-127.0.0.1:2113'],
    ])('%s in %s is a system event', (type, streamId) => {
      expect(isSystemEvent({ type, streamId })).toBe(true);
    });

    it.each([
      ['TaskMoved', 'task-1'],
      ['Price$Changed', 'task-1'],
      ['TaskMoved', 'task-$1'],
    ])('%s in %s is a domain event', (type, streamId) => {
      expect(isSystemEvent({ type, streamId })).toBe(false);
    });
  });

  describe('envelope', () => {
    it('writes a JSON event under the envelope\'s id', () => {
      const event = newEvent('TaskCreated', { title: 'x' });
      expect(toEsdbEventData(event)).toEqual({
        id: event.id,
        contentType: 'application/json',
        type: 'TaskCreated',
        data: { title: 'x' },
        metadata: event.metadata,
      });
    });

    it('reads back the whole envelope it wrote', () => {
      const event = newEvent('TaskCreated', { title: 'x', nested: { list: [1, 'two', null] } }, { orgId: 'org-1' });
      const data = toEsdbEventData(event);
      const read = toRecordedEvent({
        event: {
          id: data.id,
          streamId: 'task-1',
          type: data.type,
          revision: 3n,
          isJson: true,
          created: new Date(),
          data: JSON.parse(JSON.stringify(data.data)),
          metadata: JSON.parse(JSON.stringify(data.metadata)),
          position: { commit: 900n, prepare: 880n },
        },
      } as AllStreamResolvedEvent);
      expect(read).toEqual<RecordedEvent>({
        id: event.id,
        type: 'TaskCreated',
        streamId: 'task-1',
        revision: 3,
        position: '900/880' as Position,
        data: event.data as Record<string, unknown>,
        metadata: event.metadata,
      });
    });

    it('parses metadata the client left as bytes', () => {
      const metadata = { ...newEvent('X').metadata };
      const read = toRecordedEvent(stored('task-1', 0, 1, { metadata: new TextEncoder().encode(JSON.stringify(metadata)) }));
      expect(read.metadata).toEqual(metadata);
    });

    it.each([
      ['a binary event', { isJson: false, data: new Uint8Array([1]) }, /not JSON/],
      ['data that did not parse', { data: '{"broken"' }, /no JSON object as its data/],
      ['an array as data', { data: [1, 2] }, /no JSON object as its data/],
      ['no metadata', { metadata: undefined }, /no JSON object as its metadata/],
      ['metadata that did not parse', { metadata: new Uint8Array([0x7b]) }, /no JSON object as its metadata/],
      ['no position', { position: undefined }, /without a position/],
      ['a revision beyond 2^53', { revision: 2n ** 60n }, /does not fit/],
    ])('refuses %s instead of inventing an envelope', (_, overrides, message) => {
      expect(() => toRecordedEvent(stored('task-1', 0, 1, overrides))).toThrow(message);
    });

    it('refuses a link whose event is gone', () => {
      expect(() => toRecordedEvent({ commitPosition: 1n })).toThrow(/link/);
      expect(() => esdbPositionOf({})).toThrow(/without a position/);
    });
  });
});

// --- The adapter over a fake client: what does not need a server (paging, exclusivity, the subscription loop). ---

type FakeSubscription = PassThrough & { unsubscribed: boolean; unsubscribe(): Promise<void> };

function fakeSubscription(): FakeSubscription {
  const stream = new PassThrough({ objectMode: true }) as FakeSubscription;
  stream.unsubscribed = false;
  stream.unsubscribe = async () => {
    stream.unsubscribed = true;
  };
  return stream;
}

const failing = (error: Error) =>
  new Readable({
    objectMode: true,
    read() {
      this.destroy(error);
    },
  });

class FakeClient {
  /** `$all`, in position order. */
  log: AllStreamResolvedEvent[] = [];
  subscriptions: { fromPosition: unknown; filter: unknown; stream: FakeSubscription }[] = [];
  appendToStream = jest.fn(async (..._args: unknown[]): Promise<unknown> => ({ success: true, nextExpectedRevision: 0n, position: at(1) }));
  readStream = jest.fn((_stream: string, _options?: unknown): Readable => Readable.from([]));
  dispose = jest.fn(async () => undefined);

  readAll = jest.fn((options: { fromPosition: unknown; maxCount: number }) => {
    // Like the server, a forward read from a position includes the event at that position.
    const from = options.fromPosition;
    const after = from === ESDB_START ? this.log : this.log.filter((e) => compareEsdbPositions(e.event!.position, from as never) >= 0);
    return Readable.from(after.slice(0, options.maxCount));
  });

  subscribeToAll = jest.fn((options: { fromPosition: unknown; filter: unknown }) => {
    const stream = fakeSubscription();
    this.subscriptions.push({ fromPosition: options.fromPosition, filter: options.filter, stream });
    return stream;
  });

  get live(): FakeSubscription {
    return this.subscriptions[this.subscriptions.length - 1]!.stream;
  }
}

function storeOver(fake: FakeClient, options: ConstructorParameters<typeof EventStoreDbEventStore>[1] = {}) {
  return new EventStoreDbEventStore(fake as unknown as EventStoreDBClient, options);
}

const ns = (events: readonly RecordedEvent[]) => events.map((e) => e.data.n);

describe('EventStoreDbEventStore over a fake client', () => {
  describe('append', () => {
    it('sends JSON events under the mapped expectation and reports the new revision and position', async () => {
      const fake = new FakeClient();
      fake.appendToStream.mockResolvedValue({ success: true, nextExpectedRevision: 4n, position: { commit: 70n, prepare: 60n } });
      const events = [newEvent('TaskMoved'), newEvent('TaskMoved')];
      await expect(storeOver(fake).append('task-1', events, 2)).resolves.toEqual({ nextExpectedRevision: 4, position: '70/60' });
      expect(fake.appendToStream).toHaveBeenCalledWith('task-1', events.map(toEsdbEventData), { expectedRevision: 2n });
    });

    it('turns a wrong expected version into the port\'s error', async () => {
      const fake = new FakeClient();
      fake.appendToStream.mockRejectedValue(new WrongExpectedVersionError(undefined, { streamName: 'task-1', expected: NO_STREAM, current: 0n }));
      await expect(storeOver(fake).append('task-1', [newEvent('TaskCreated')], 'no_stream')).rejects.toMatchObject({
        name: 'WrongExpectedRevisionError',
        actual: 0,
      });
    });

    it('checks an empty append against the last revision without writing', async () => {
      const fake = new FakeClient();
      const store = storeOver(fake);
      fake.readStream.mockImplementation(() => failing(new StreamNotFoundError(undefined, 'task-1')));
      await expect(store.append('task-1', [], 'no_stream')).resolves.toEqual({ nextExpectedRevision: -1, position: null });
      await expect(store.append('task-1', [], 'stream_exists')).rejects.toMatchObject({ actual: -1 });
      fake.readStream.mockImplementation(() => Readable.from([stored('task-1', 2, 5)]));
      await expect(store.append('task-1', [], 2)).resolves.toEqual({ nextExpectedRevision: 2, position: null });
      await expect(store.append('task-1', [], 'no_stream')).rejects.toMatchObject({ actual: 2 });
      expect(fake.appendToStream).not.toHaveBeenCalled();
    });
  });

  describe('readStream', () => {
    it('reads a missing stream as empty', async () => {
      const fake = new FakeClient();
      fake.readStream.mockImplementation(() => failing(new StreamNotFoundError(undefined, 'task-1')));
      await expect(storeOver(fake).readStream('task-1')).resolves.toEqual([]);
    });

    it('reads forwards from the revision it is given', async () => {
      const fake = new FakeClient();
      fake.readStream.mockImplementation(() => Readable.from([stored('task-1', 1, 11), stored('task-1', 2, 12)]));
      const read = await storeOver(fake).readStream('task-1', 1);
      expect(read.map((e) => e.revision)).toEqual([1, 2]);
      expect(fake.readStream).toHaveBeenCalledWith('task-1', { fromRevision: 1n, direction: 'forwards' });
    });

    it('reports an unreachable server as unavailable', async () => {
      const fake = new FakeClient();
      fake.readStream.mockImplementation(() => failing(new UnavailableError()));
      await expect(storeOver(fake).readStream('task-1')).rejects.toBeInstanceOf(EventStoreUnavailableError);
    });
  });

  describe('readAll', () => {
    const fakeWithLog = (count: number) => {
      const fake = new FakeClient();
      for (let n = 1; n <= count; n += 1) fake.log.push(stored(`task-${n % 3}`, n, n));
      return fake;
    };

    it('reads strictly after the position it is given', async () => {
      const fake = fakeWithLog(5);
      const store = storeOver(fake);
      expect(ns(await store.readAll(START))).toEqual([1, 2, 3, 4, 5]);
      expect(ns(await store.readAll('3/3' as Position))).toEqual([4, 5]);
      expect(ns(await store.readAll('5/5' as Position))).toEqual([]);
    });

    it('leaves system events out without counting them', async () => {
      const fake = fakeWithLog(0);
      fake.log.push(
        stored('$$task-1', 0, 1, { type: '$metadata' }),
        stored('task-1', 0, 2),
        stored('$settings', 0, 3, { type: 'Settings' }),
        stored('task-1', 1, 4, { type: '$>' }),
        stored('task-1', 2, 5),
      );
      const read = await storeOver(fake).readAll(START, { maxCount: 2 });
      expect(ns(read)).toEqual([2, 5]);
    });

    it('stops at maxCount and pages through long reads', async () => {
      const fake = fakeWithLog(2500);
      const store = storeOver(fake);
      expect(ns(await store.readAll(START, { maxCount: 3 }))).toEqual([1, 2, 3]);
      const all = await store.readAll('10/10' as Position, { maxCount: 1_000_000 });
      expect(all).toHaveLength(2490);
      expect(ns(all)).toEqual(Array.from({ length: 2490 }, (_, i) => i + 11));
      expect(fake.readAll.mock.calls.length).toBeGreaterThan(2);
      for (const [options] of fake.readAll.mock.calls) expect(options.maxCount).toBeLessThanOrEqual(1000);
    });

    it('refuses a position that is not its own', async () => {
      await expect(storeOver(new FakeClient()).readAll('12:34' as Position)).rejects.toThrow(/Not an EventStoreDB/);
    });
  });

  describe('subscribeToAll', () => {
    it('subscribes strictly after the position, with system events filtered by the server', () => {
      const fake = new FakeClient();
      const subscription = storeOver(fake).subscribeToAll('40/30' as Position, async () => undefined);
      expect(fake.subscriptions[0]!.fromPosition).toEqual({ commit: 40n, prepare: 30n });
      expect(fake.subscriptions[0]!.filter).toMatchObject({ filterOn: 'eventType', regex: '^[^$].*' });
      return subscription.stop();
    });

    it('refuses a foreign position at once', () => {
      expect(() => storeOver(new FakeClient()).subscribeToAll('1:2' as Position, async () => undefined)).toThrow(/Not an EventStoreDB/);
    });

    it('delivers buffered events in order, in batches of at most batchSize, one handler call at a time', async () => {
      const fake = new FakeClient();
      const batches: number[][] = [];
      let running = 0;
      let overlapped = false;
      const subscription = storeOver(fake).subscribeToAll(
        START,
        async (events) => {
          overlapped ||= running > 0;
          running += 1;
          batches.push(events.map((e) => e.data.n as number));
          await new Promise((r) => setTimeout(r, 5));
          running -= 1;
        },
        { batchSize: 2 },
      );
      for (let n = 1; n <= 5; n += 1) fake.live.write(stored('task-1', n - 1, n));
      fake.live.write(stored('$$task-1', 0, 6, { type: 'Anything' }));
      fake.live.write(stored('task-1', 5, 7));
      await eventually(async () => (batches.flat().length === 6 ? true : undefined), 2000, 5);
      await subscription.stop();
      expect(batches.flat()).toEqual([1, 2, 3, 4, 5, 7]);
      expect(Math.max(...batches.map((b) => b.length))).toBe(2);
      expect(overlapped).toBe(false);
      expect(fake.live.unsubscribed).toBe(true);
    });

    it('stops on a handler failure, rejecting done, and calls the handler no more', async () => {
      const fake = new FakeClient();
      let calls = 0;
      const subscription = storeOver(fake).subscribeToAll(
        START,
        async () => {
          calls += 1;
          throw new Error('projection bug');
        },
        { batchSize: 1 },
      );
      fake.live.write(stored('task-1', 0, 1));
      fake.live.write(stored('task-1', 1, 2));
      await expect(subscription.done).rejects.toThrow('projection bug');
      await new Promise((r) => setTimeout(r, 20));
      expect(calls).toBe(1);
      expect(fake.subscriptions).toHaveLength(1);
      await subscription.stop();
    });

    it('stops on an event it cannot read rather than skip it', async () => {
      const fake = new FakeClient();
      const seen: number[] = [];
      const subscription = storeOver(fake).subscribeToAll(START, async (events) => {
        seen.push(...(events.map((e) => e.data.n) as number[]));
      });
      fake.live.write(stored('task-1', 0, 1, { isJson: false, data: new Uint8Array() }));
      await expect(subscription.done).rejects.toThrow(/not JSON/);
      expect(seen).toEqual([]);
    });

    it.each([
      ['fails', (s: FakeSubscription) => s.destroy(new UnavailableError())],
      ['is ended by the server', (s: FakeSubscription) => s.end()],
    ])('resubscribes from the last handled position when the subscription %s', async (_, drop) => {
      const fake = new FakeClient();
      const seen: number[] = [];
      const retries: number[] = [];
      const subscription = storeOver(fake).subscribeToAll(
        '0/0' as Position,
        async (events) => {
          seen.push(...(events.map((e) => e.data.n) as number[]));
        },
        { onRetry: (_error, attempt) => retries.push(attempt) },
      );
      try {
        const first = fake.live;
        first.write(stored('task-1', 0, 1));
        first.write(stored('task-1', 1, 2));
        await eventually(async () => (seen.length === 2 ? true : undefined), 2000, 5);
        drop(first);
        await eventually(async () => (fake.subscriptions.length === 2 ? true : undefined), 2000, 5);
        expect(retries).toEqual([1]);
        expect(fake.subscriptions[1]!.fromPosition).toEqual(at(2));
        fake.live.write(stored('task-1', 2, 3));
        await eventually(async () => (seen.length === 3 ? true : undefined), 2000, 5);
        expect(seen).toEqual([1, 2, 3]);
        expect(first.unsubscribed).toBe(true);
      } finally {
        await subscription.stop();
      }
    });

    it('backs off while the server stays away, counting attempts', async () => {
      const fake = new FakeClient();
      const attempts: number[] = [];
      fake.subscribeToAll.mockImplementation((options) => {
        const stream = fakeSubscription();
        fake.subscriptions.push({ fromPosition: options.fromPosition, filter: options.filter, stream });
        setImmediate(() => stream.destroy(new UnavailableError()));
        return stream;
      });
      const subscription = storeOver(fake).subscribeToAll(START, async () => undefined, {
        onRetry: (error, attempt) => {
          expect(error).toBeInstanceOf(UnavailableError);
          attempts.push(attempt);
        },
      });
      await eventually(async () => (attempts.length >= 3 ? true : undefined), 3000, 5);
      await subscription.stop();
      expect(attempts.slice(0, 3)).toEqual([1, 2, 3]);
      expect(fake.subscriptions.every((s) => s.fromPosition === ESDB_START)).toBe(true);
    });

    it('stop() waits for the running handler and starts no other', async () => {
      const fake = new FakeClient();
      let release!: () => void;
      let calls = 0;
      let finished = false;
      const subscription = storeOver(fake).subscribeToAll(
        START,
        async () => {
          calls += 1;
          await new Promise<void>((r) => (release = r));
          finished = true;
        },
        { batchSize: 1 },
      );
      fake.live.write(stored('task-1', 0, 1));
      fake.live.write(stored('task-1', 1, 2));
      await eventually(async () => (calls === 1 ? true : undefined), 2000, 5);
      const stopping = subscription.stop();
      release();
      await stopping;
      expect(finished).toBe(true);
      await new Promise((r) => setTimeout(r, 20));
      expect(calls).toBe(1);
      await expect(subscription.done).resolves.toBeUndefined();
    });
  });

  describe('ping and close', () => {
    it('counts "stream not found" as an answer', async () => {
      const fake = new FakeClient();
      fake.readStream.mockImplementation(() => failing(new StreamNotFoundError(undefined, 'bastion-ping')));
      await expect(storeOver(fake).ping()).resolves.toBeUndefined();
    });

    it('throws EventStoreUnavailableError when the server fails or is silent', async () => {
      const fake = new FakeClient();
      fake.readStream.mockImplementation(() => failing(new UnavailableError()));
      await expect(storeOver(fake).ping()).rejects.toBeInstanceOf(EventStoreUnavailableError);
      fake.readStream.mockImplementation(() => new Readable({ objectMode: true, read() {} }));
      await expect(storeOver(fake, { pingTimeoutMs: 30 }).ping()).rejects.toBeInstanceOf(EventStoreUnavailableError);
    });

    it('close() stops live subscriptions, then disposes the client it owns', async () => {
      const fake = new FakeClient();
      const store = storeOver(fake);
      const subscription = store.subscribeToAll(START, async () => undefined);
      await store.close();
      await expect(subscription.done).resolves.toBeUndefined();
      expect(fake.live.unsubscribed).toBe(true);
      expect(fake.dispose).toHaveBeenCalledTimes(1);
      await storeOver(fake, { ownsClient: false }).close();
      expect(fake.dispose).toHaveBeenCalledTimes(1);
    });
  });
});
