import Redis from 'ioredis';
import type { Pool } from 'pg';
import { changesOf, publishChanges } from '../../libs/infra/src/live/changes';
import { redisUrl } from './services';
import { PROJECTIONS } from '../../apps/projector/src/projections';
import { PostgresEventStore } from '../../libs/infra/src/event-store/postgres/postgres-event-store.adapter';
import type { Reactor } from '../../libs/infra/src/projection/projection';
import { ProjectionRunner } from '../../libs/infra/src/projection/projection-runner';
import type { TestDatabase } from './database';
import { poolFor } from './database';

/** Brings every read model up to date with the store, as the projector's role (call after commands, before reads). */
export class TestProjector {
  private readonly pool: Pool;
  private readonly runners: ProjectionRunner[];

  private readonly redis: Redis | undefined;

  /** With a Redis prefix, it also publishes live changes after each commit, as the projector process does. */
  constructor(db: TestDatabase, options: { redisPrefix?: string } = {}) {
    this.pool = poolFor(db.urlFor('bastion_projector'));
    const store = new PostgresEventStore(this.pool);
    const prefix = options.redisPrefix;
    this.redis = prefix ? new Redis(redisUrl()) : undefined;
    const onCommitted = prefix ? (name: string, events: Parameters<typeof changesOf>[1]) => publishChanges(this.redis!, prefix, changesOf(name, events)) : undefined;
    this.runners = PROJECTIONS.map((p) => new ProjectionRunner(this.pool, store, p, { onCommitted }));
  }

  close(): void {
    this.redis?.disconnect();
  }

  /**
   * Applies every event committed before the call. Subscribers read only below the oldest running transaction on
   * the server (the xid8 gate), and other Jest workers' transactions count: wait until the gate has passed them.
   */
  async catchUp(): Promise<void> {
    await waitForGate(this.pool);
    for (const runner of this.runners) await runner.catchUp();
  }
}

/**
 * Waits until every event committed so far is past the xid8 gate, which other Jest workers' open transactions hold
 * back too: a subscription started after this sees them all.
 */
export async function waitForGate(pool: Pool): Promise<void> {
  const { rows } = await pool.query<{ target: string | null }>('select max(position) as target from events');
  const target = rows[0]!.target;
  if (target === null) return;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const gated = await pool.query(
      'select 1 from events where position <= $1 and transaction_id >= pg_snapshot_xmin(pg_current_snapshot()) limit 1',
      [target],
    );
    if (gated.rowCount === 0) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  // Name what holds the gate (any open transaction with an xid, in any database of the cluster) instead of letting
  // the test fail later on a read model that is merely behind.
  const { rows: holders } = await pool.query<{ pid: number; datname: string; usename: string; state: string; age: string; query: string }>(
    `select pid, datname, usename, state, (now() - xact_start)::text as age, left(query, 120) as query
       from pg_stat_activity where backend_xid is not null order by xact_start limit 5`,
  );
  throw new Error(`the xid8 gate did not pass position ${target} within 30 s; oldest transactions holding it: ${JSON.stringify(holders)}`);
}

/**
 * Runs one reactor from its checkpoint over every event committed so far, as the projector process does (on the
 * projector's pool): its reactions happen, then its checkpoint advances.
 */
export async function catchUpReactor(pool: Pool, reactor: Reactor): Promise<void> {
  await waitForGate(pool);
  await new ProjectionRunner(pool, new PostgresEventStore(pool), reactor).catchUp();
}
