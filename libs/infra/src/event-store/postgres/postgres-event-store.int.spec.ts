import { Client, type Pool } from 'pg';
import { closePools, poolFor, type TestDatabase, workerDatabase } from '../../../../../test/support/database';
import { eventually, newEvent, stream } from '../../../../../test/support/events';
import { eventStoreContract } from '../event-store.contract';
import { type RecordedEvent, START } from '../event-store.port';
import { PostgresEventStore } from './postgres-event-store.adapter';

let db: TestDatabase;
let workerPool: Pool;

beforeAll(async () => {
  db = await workerDatabase();
  workerPool = poolFor(db.urlFor('bastion_worker'), 20);
});
afterAll(closePools);

// System appends run as the worker's role, outside any request transaction (DESIGN §3).
eventStoreContract(
  'PostgreSQL',
  async () => new PostgresEventStore(workerPool, { pollIntervalMs: 20 }),
  async () => undefined,
);

describe('PostgreSQL event store', () => {
  it('a transaction that takes a lower position but commits later is delivered, in order, and never skipped', async () => {
    const store = new PostgresEventStore(workerPool, { pollIntervalMs: 20 });
    const late = stream();
    const early = stream();
    const a = new Client({ connectionString: db.urlFor('bastion_worker') });
    await a.connect();
    const seen: RecordedEvent[] = [];
    const subscription = store.subscribeToAll(START, async (events) => {
      seen.push(...events.filter((e) => e.streamId === late || e.streamId === early));
    });
    try {
      // A takes its position first and holds its transaction open…
      await a.query('begin');
      await new PostgresEventStore(a).append(late, [newEvent('SampleCreated', { who: 'A' })], 'no_stream');
      // …while B appends after it and commits at once.
      await store.append(early, [newEvent('SampleCreated', { who: 'B' })], 'no_stream');
      await new Promise((r) => setTimeout(r, 300));
      expect(seen).toEqual([]); // B is held back behind A: delivering it now would let A be skipped.

      await a.query('commit');
      await eventually(async () => (seen.length === 2 ? true : undefined));
      const [first, second] = seen;
      expect([first!.data.who, second!.data.who]).toEqual(['A', 'B']);
      // Positions order the same way as delivery: A's (lower transaction id) first.
      const after = await store.readAll(first!.position, { maxCount: 1_000_000 });
      expect(after.map((e) => e.id)).toContain(second!.id);
    } finally {
      await subscription.stop();
      await a.end();
    }
  });

  it('appends inside a caller transaction commit or roll back with it', async () => {
    const client = await workerPool.connect();
    const store = new PostgresEventStore(workerPool);
    const id = stream();
    try {
      await client.query('begin');
      await store.bind(client).append(id, [newEvent('SampleCreated')], 'no_stream');
      await client.query('rollback');
      expect(await store.readStream(id)).toEqual([]);
      await client.query('begin');
      await store.bind(client).append(id, [newEvent('SampleCreated')], 'no_stream');
      await client.query('commit');
      expect(await store.readStream(id)).toHaveLength(1);
    } finally {
      client.release();
    }
  });

  describe('immutability', () => {
    for (const role of ['bastion_app', 'bastion_projector', 'bastion_worker'] as const) {
      it(`${role} cannot update, delete or truncate events`, async () => {
        const id = stream();
        await new PostgresEventStore(workerPool).append(id, [newEvent('SampleCreated')], 'no_stream');
        const client = new Client({ connectionString: db.urlFor(role) });
        await client.connect();
        try {
          for (const sql of [
            `update events set data = '{"forged":true}' where stream_id = '${id}'`,
            `delete from events where stream_id = '${id}'`,
            'truncate events',
          ]) {
            await expect(client.query(sql)).rejects.toMatchObject({ code: '42501' });
          }
        } finally {
          await client.end();
        }
        const admin = new Client({ connectionString: db.adminUrl });
        await admin.connect();
        try {
          const { rows } = await admin.query('select data from events where stream_id = $1', [id]);
          expect(rows).toEqual([{ data: {} }]);
        } finally {
          await admin.end();
        }
      });
    }

    it('the owner and even a superuser are refused by the always-enabled triggers', async () => {
      const id = stream();
      await new PostgresEventStore(workerPool).append(id, [newEvent('SampleCreated')], 'no_stream');
      const admin = new Client({ connectionString: db.adminUrl });
      await admin.connect();
      try {
        // A superuser bypasses privileges and RLS, so only the row triggers stand in its way.
        await expect(admin.query('update events set data = $1 where stream_id = $2', ['{}', id])).rejects.toThrow(
          /events are immutable: UPDATE refused/,
        );
        await expect(admin.query('delete from events where stream_id = $1', [id])).rejects.toThrow(/DELETE refused/);
        // …even in replica mode, where ordinary triggers are skipped.
        await admin.query("set session_replication_role = 'replica'");
        await expect(admin.query('delete from events where stream_id = $1', [id])).rejects.toThrow(/DELETE refused/);
        await admin.query("set session_replication_role = 'origin'");
        // The NOLOGIN owner holds every privilege on the table; the statement trigger refuses TRUNCATE.
        await admin.query('set role bastion_owner');
        await expect(admin.query('truncate events')).rejects.toThrow(/TRUNCATE refused/);
      } finally {
        await admin.end();
      }
    });

    it('the owner role cannot log in', async () => {
      const client = new Client({ connectionString: db.adminUrl.replace('postgres@', 'bastion_owner@') });
      await expect(client.connect()).rejects.toThrow(/not permitted to log in/);
    });

    it('the API role appends nothing and sees nothing until the permission policies exist', async () => {
      const client = new Client({ connectionString: db.urlFor('bastion_app') });
      await client.connect();
      try {
        await expect(new PostgresEventStore(client).append(stream(), [newEvent('SampleCreated')], 'no_stream')).rejects.toMatchObject({
          code: '42501',
        });
        const { rows } = await client.query('select count(*)::int as n from events');
        expect(rows[0].n).toBe(0);
      } finally {
        await client.end();
      }
    });

    it('the worker may append system events only', async () => {
      const store = new PostgresEventStore(workerPool);
      await expect(
        store.append(stream(), [newEvent('SampleCreated', {}, { actor: { type: 'agent', id: 'a' } })], 'no_stream'),
      ).rejects.toMatchObject({ code: '42501' });
    });
  });
});
