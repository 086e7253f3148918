import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { PostgresEventStore } from '@bastion/infra/event-store/postgres/postgres-event-store.adapter';
import type { Projection } from '@bastion/infra/projection/projection';
import { ProjectionRunner } from '@bastion/infra/projection/projection-runner';
import { closePools, isolatedDatabase, poolFor, type TestDatabase } from '../../../../test/support/database';
import { eventually, newEvent } from '../../../../test/support/events';
import { orgActivityProjection } from './org-activity.projection';
import { organizationsProjection } from './organizations.projection';

let db: TestDatabase;
let projector: Pool;
let store: PostgresEventStore;
const orgs = Array.from({ length: 4 }, () => randomUUID());

async function appendActivity(perOrg: number) {
  for (const orgId of orgs) {
    const events = Array.from({ length: perOrg }, (_, i) => newEvent('TaskMoved', { i }, { orgId }));
    await store.append(`task-${randomUUID()}`, events, 'no_stream');
  }
}

async function counts(): Promise<Record<string, number>> {
  const { rows } = await projector.query<{ org_id: string; event_count: string }>('select org_id, event_count from org_activity');
  return Object.fromEntries(rows.map((r) => [r.org_id, Number(r.event_count)]));
}

beforeAll(async () => {
  db = await isolatedDatabase();
  projector = poolFor(db.urlFor('bastion_projector'));
  store = new PostgresEventStore(poolFor(db.urlFor('bastion_worker')), { pollIntervalMs: 10 });
});
afterAll(closePools);

describe('projections', () => {
  it('a failure in the middle of a batch rolls the whole batch back; the retry applies each event exactly once', async () => {
    await appendActivity(250);
    let failuresLeft = 3;
    let applied = 0;
    // The real projection, sabotaged: it throws after part of a batch has already been written.
    const flaky: Projection = {
      ...orgActivityProjection,
      async apply(tx, event) {
        applied += 1;
        if (applied % 170 === 0 && failuresLeft > 0) {
          failuresLeft -= 1;
          throw new Error('simulated crash mid-batch');
        }
        await orgActivityProjection.apply(tx, event);
      },
    };
    const runner = new ProjectionRunner(projector, store, flaky, { batchSize: 100 });
    runner.start();
    try {
      await eventually(async () => (Object.values(await counts()).reduce((a, b) => a + b, 0) === 1000 ? true : undefined));
      await new Promise((r) => setTimeout(r, 200));
      expect(failuresLeft).toBe(0);
      const result = await counts();
      for (const orgId of orgs) expect(result[orgId]).toBe(250);
      const { rows } = await projector.query("select events_seen from projection_checkpoints where name = 'org_activity'");
      expect(Number(rows[0].events_seen)).toBe(1000);
    } finally {
      await runner.stop();
    }
  });

  it('a rebuild empties the read model and replays it from position 0 to the same rows, while a runner is live', async () => {
    const orgId = randomUUID();
    const created = newEvent('OrganizationCreated', { orgId, name: 'Acme', createdBy: randomUUID(), providerId: null }, { orgId });
    await store.append(`org-${orgId}`, [created], 'no_stream');
    const live = new ProjectionRunner(projector, store, orgActivityProjection, { batchSize: 100 });
    live.start();
    try {
      await eventually(async () => ((await counts())[orgId] === 1 ? true : undefined));
      const before = await counts();

      const rebuild = new ProjectionRunner(projector, store, orgActivityProjection);
      await rebuild.reset();
      expect(await counts()).toEqual({});
      await rebuild.catchUp();
      expect(await counts()).toEqual(before);

      // The live runner's next compare-and-set finds the checkpoint moved: it reloads instead of applying twice.
      await store.append(`org-${orgId}`, [newEvent('OrganizationRenamed', { orgId }, { orgId })], 0);
      await eventually(async () => ((await counts())[orgId] === 2 ? true : undefined));
      await new Promise((r) => setTimeout(r, 300));
      expect(await counts()).toEqual({ ...before, [orgId]: 2 });

      // The organizations projection rebuilds to the same rows as well.
      const organizations = new ProjectionRunner(projector, store, organizationsProjection);
      await organizations.catchUp();
      const rows = (await projector.query('select * from organizations order by org_id')).rows;
      await organizations.reset();
      await organizations.catchUp();
      expect((await projector.query('select * from organizations order by org_id')).rows).toEqual(rows);
      expect(rows).toHaveLength(1);
    } finally {
      await live.stop();
    }
  });

  it('an event whose content the read model refuses is parked, and the projection goes on past it', async () => {
    // Appended as the superuser, as SQL in a member's request could append a malformed event in its own org: the
    // events table checks who may append what, not the shape of the data.
    const admin = new PostgresEventStore(poolFor(db.adminUrl));
    const [bad, good] = [randomUUID(), randomUUID()];
    const malformed = newEvent('OrganizationCreated', { orgId: bad, name: 'No creator', providerId: null }, { orgId: bad });
    await admin.append(`org-${bad}`, [malformed], 'no_stream');
    // A data exception's message quotes the value it refused: that value must not reach the parked record.
    const unparsable = newEvent('OrganizationCreated', { orgId: 'quoted-secret-42', name: 'Bad id', createdBy: randomUUID(), providerId: null }, { orgId: bad });
    await admin.append(`org-${bad}`, [unparsable], 0);
    await admin.append(`org-${good}`, [newEvent('OrganizationCreated', { orgId: good, name: 'Good', createdBy: randomUUID(), providerId: null }, { orgId: good })], 'no_stream');
    const parkedBefore = await projector.query("select count(*)::int as n from projection_parked_events where consumer = 'organizations'");
    expect(parkedBefore.rows[0].n).toBe(0);

    await new ProjectionRunner(projector, store, organizationsProjection, { batchSize: 100 }).catchUp();

    const { rows } = await projector.query('select org_id, name from organizations where org_id = any($1::uuid[]) order by name', [[bad, good]]);
    expect(rows).toEqual([{ org_id: good, name: 'Good' }]);
    const parked = await projector.query(
      "select event_id, event_type, sqlstate, refused_by from projection_parked_events where consumer = 'organizations' order by parked_at, event_id",
    );
    expect(parked.rows).toEqual(
      expect.arrayContaining([
        { event_id: malformed.id, event_type: 'OrganizationCreated', sqlstate: '23502', refused_by: 'organizations.created_by' },
        { event_id: unparsable.id, event_type: 'OrganizationCreated', sqlstate: '22P02', refused_by: expect.any(String) },
      ]),
    );
    expect(parked.rows).toHaveLength(2);
    expect(JSON.stringify(parked.rows)).not.toContain('quoted-secret-42');
  });

  it('any other failure still stops the projection at the batch: nothing is parked, and the checkpoint stays', async () => {
    const orgId = randomUUID();
    await store.append(`task-${randomUUID()}`, [newEvent('TaskMoved', { i: 0 }, { orgId })], 'no_stream');
    const broken: Projection = { ...orgActivityProjection, name: 'broken_activity', apply: async () => Promise.reject(new Error('a bug')) };
    await expect(new ProjectionRunner(projector, store, broken).catchUp()).rejects.toThrow('a bug');
    const parked = await projector.query("select count(*)::int as n from projection_parked_events where consumer = 'broken_activity'");
    expect(parked.rows[0].n).toBe(0);
    const checkpoint = await projector.query("select position from projection_checkpoints where name = 'broken_activity'");
    expect(checkpoint.rows[0]?.position ?? null).toBeNull();
  });

  it('a reactor cannot be reset, because replaying it would repeat its side effects', async () => {
    const runner = new ProjectionRunner(projector, store, { kind: 'reactor', name: 'r', handles: [], react: async () => undefined });
    await expect(runner.reset()).rejects.toThrow(/reactor/);
  });
});
