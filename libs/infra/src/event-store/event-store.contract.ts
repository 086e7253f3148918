/**
 * The one contract every event-store adapter passes (DESIGN §3). Adapter-specific cases (PostgreSQL's late
 * commits and immutability per login role) live beside the adapter.
 */
import type { NewEvent } from '@bastion/domain';
import { eventually, newEvent, stream } from '../../../../test/support/events';
import { type EventStore, type RecordedEvent, START, WrongExpectedRevisionError } from './event-store.port';

export function eventStoreContract(name: string, open: () => Promise<EventStore>, close: (store: EventStore) => Promise<void>) {
  describe(`event store contract: ${name}`, () => {
    let store: EventStore;
    beforeAll(async () => {
      store = await open();
    });
    afterAll(async () => {
      await close(store);
    });

    const three = (): NewEvent[] => [newEvent('SampleCreated', { n: 0 }), newEvent('SampleMoved', { n: 1 }), newEvent('SampleMoved', { n: 2 })];

    it('appends to a new stream and reads it back in order with the whole envelope', async () => {
      const id = stream();
      const events = three();
      const result = await store.append(id, events, 'no_stream');
      expect(result.nextExpectedRevision).toBe(2);
      expect(result.position).not.toBeNull();
      const read = await store.readStream(id);
      expect(read.map((e) => [e.revision, e.id, e.type, e.data, e.metadata, e.streamId])).toEqual(
        events.map((e, i) => [i, e.id, e.type, e.data, e.metadata, id]),
      );
    });

    it('reads a missing stream as empty', async () => {
      expect(await store.readStream(stream())).toEqual([]);
    });

    it('reads a stream from a revision', async () => {
      const id = stream();
      await store.append(id, three(), 'no_stream');
      expect((await store.readStream(id, 1)).map((e) => e.revision)).toEqual([1, 2]);
    });

    describe('expected revision', () => {
      it('"no stream" refuses a stream that exists', async () => {
        const id = stream();
        await store.append(id, [newEvent('SampleCreated')], 'no_stream');
        await expect(store.append(id, [newEvent('SampleMoved')], 'no_stream')).rejects.toBeInstanceOf(WrongExpectedRevisionError);
        expect(await store.readStream(id)).toHaveLength(1);
      });

      it('"stream exists" refuses a missing stream and accepts an existing one', async () => {
        const id = stream();
        await expect(store.append(id, [newEvent('SampleMoved')], 'stream_exists')).rejects.toMatchObject({
          code: 'EVENT_STORE.WRONG_EXPECTED_REVISION',
        });
        expect(await store.readStream(id)).toEqual([]);
        await store.append(id, [newEvent('SampleCreated')], 'no_stream');
        await expect(store.append(id, [newEvent('SampleMoved')], 'stream_exists')).resolves.toMatchObject({ nextExpectedRevision: 1 });
      });

      it('an exact revision must match the last event', async () => {
        const id = stream();
        await expect(store.append(id, [newEvent('SampleMoved')], 0)).rejects.toBeInstanceOf(WrongExpectedRevisionError);
        await store.append(id, three(), 'no_stream');
        await expect(store.append(id, [newEvent('SampleMoved')], 1)).rejects.toBeInstanceOf(WrongExpectedRevisionError);
        await expect(store.append(id, [newEvent('SampleMoved')], 3)).rejects.toBeInstanceOf(WrongExpectedRevisionError);
        await expect(store.append(id, [newEvent('SampleMoved')], 2)).resolves.toMatchObject({ nextExpectedRevision: 3 });
      });

      it('"any" appends to a missing and to an existing stream', async () => {
        const id = stream();
        await store.append(id, [newEvent('SampleCreated')], 'any');
        await store.append(id, [newEvent('SampleMoved')], 'any');
        expect((await store.readStream(id)).map((e) => e.revision)).toEqual([0, 1]);
      });

      it('a refused append appends nothing, not even part of its batch', async () => {
        const id = stream();
        await store.append(id, [newEvent('SampleCreated')], 'no_stream');
        await expect(store.append(id, three(), 5)).rejects.toBeInstanceOf(WrongExpectedRevisionError);
        expect(await store.readStream(id)).toHaveLength(1);
      });
    });

    it('concurrent appends at one expected revision: exactly one wins', async () => {
      const id = stream();
      await store.append(id, [newEvent('SampleCreated')], 'no_stream');
      const outcomes = await Promise.allSettled(
        Array.from({ length: 16 }, (_, i) => store.append(id, [newEvent('SampleMoved', { contender: i })], 0)),
      );
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
      for (const o of outcomes.filter((o) => o.status === 'rejected')) {
        expect((o as PromiseRejectedResult).reason).toBeInstanceOf(WrongExpectedRevisionError);
      }
      expect((await store.readStream(id)).map((e) => e.revision)).toEqual([0, 1]);
    });

    it('concurrent creations of one stream: exactly one wins', async () => {
      const id = stream();
      const outcomes = await Promise.allSettled(Array.from({ length: 8 }, () => store.append(id, three(), 'no_stream')));
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
      expect(await store.readStream(id)).toHaveLength(3);
    });

    it('concurrent "any" appends all land, with gap-free revisions', async () => {
      const id = stream();
      await Promise.all(Array.from({ length: 5 }, (_, i) => store.append(id, [newEvent('SampleMoved', { i })], 'any')));
      expect((await store.readStream(id)).map((e) => e.revision)).toEqual([0, 1, 2, 3, 4]);
    });

    it('appends and reads a large batch in order', async () => {
      const id = stream();
      const batch = Array.from({ length: 2000 }, (_, i) => newEvent('SampleMoved', { i, pad: 'x'.repeat(64) }));
      await store.append(id, batch, 'no_stream');
      const read = await store.readStream(id);
      expect(read).toHaveLength(2000);
      expect(read.map((e) => e.data.i)).toEqual(batch.map((_, i) => i));
      expect(read.map((e) => e.id)).toEqual(batch.map((e) => e.id));
    });

    it('reads everything in global order, strictly after a position', async () => {
      const a = stream();
      const b = stream();
      await store.append(a, [newEvent('SampleCreated', { k: 'a0' })], 'no_stream');
      await store.append(b, [newEvent('SampleCreated', { k: 'b0' })], 'no_stream');
      await store.append(a, [newEvent('SampleMoved', { k: 'a1' })], 0);
      const ours = await eventually(async () => {
        const all = await readEverything(store);
        const mine = all.filter((e) => e.streamId === a || e.streamId === b);
        return mine.length === 3 ? mine : undefined;
      });
      expect(ours.map((e) => e.data.k)).toEqual(['a0', 'b0', 'a1']);
      const after = await store.readAll(ours[0]!.position, { maxCount: 1_000_000 });
      expect(after.map((e) => e.id)).not.toContain(ours[0]!.id);
      expect(after.filter((e) => e.streamId === a || e.streamId === b).map((e) => e.data.k)).toEqual(['b0', 'a1']);
    });

    it('a catch-up subscription delivers old and new events, each once, in order', async () => {
      const id = stream();
      await store.append(id, [newEvent('SampleCreated', { n: 0 })], 'no_stream');
      const seen: RecordedEvent[] = [];
      const subscription = store.subscribeToAll(START, async (events) => {
        seen.push(...events.filter((e) => e.streamId === id));
      }, { batchSize: 50 });
      try {
        for (let n = 1; n <= 5; n += 1) await store.append(id, [newEvent('SampleMoved', { n })], n - 1);
        await eventually(async () => (seen.length >= 6 ? true : undefined));
        await new Promise((r) => setTimeout(r, 200));
        expect(seen.map((e) => e.data.n)).toEqual([0, 1, 2, 3, 4, 5]);
      } finally {
        await subscription.stop();
      }
    });

    it('a subscription resumes strictly after the position it is given', async () => {
      const id = stream();
      await store.append(id, three(), 'no_stream');
      const mine = await eventually(async () => {
        const e = (await readEverything(store)).filter((x) => x.streamId === id);
        return e.length === 3 ? e : undefined;
      });
      const seen: number[] = [];
      const subscription = store.subscribeToAll(mine[0]!.position, async (events) => {
        seen.push(...events.filter((e) => e.streamId === id).map((e) => e.data.n as number));
      });
      try {
        await eventually(async () => (seen.length >= 2 ? true : undefined));
        expect(seen).toEqual([1, 2]);
      } finally {
        await subscription.stop();
      }
    });

    it('a failing handler stops the subscription instead of skipping the event', async () => {
      const id = stream();
      await store.append(id, [newEvent('SampleCreated')], 'no_stream');
      let calls = 0;
      const subscription = store.subscribeToAll(START, async (events) => {
        if (events.some((e) => e.streamId === id)) {
          calls += 1;
          throw new Error('projection bug');
        }
      });
      await expect(subscription.done).rejects.toThrow('projection bug');
      expect(calls).toBe(1);
      await subscription.stop();
    });
  });
}

async function readEverything(store: EventStore): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  let from = START;
  for (;;) {
    const batch = await store.readAll(from, { maxCount: 5000 });
    out.push(...batch);
    if (batch.length < 5000) return out;
    from = batch[batch.length - 1]!.position;
  }
}
