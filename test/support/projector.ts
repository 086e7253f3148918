import type { Pool } from 'pg';
import { PROJECTIONS } from '../../apps/projector/src/projections';
import { PostgresEventStore } from '../../libs/infra/src/event-store/postgres/postgres-event-store.adapter';
import { ProjectionRunner } from '../../libs/infra/src/projection/projection-runner';
import type { TestDatabase } from './database';
import { poolFor } from './database';

/** Brings every read model up to date with the store, as the projector's role (call after commands, before reads). */
export class TestProjector {
  private readonly pool: Pool;
  private readonly runners: ProjectionRunner[];

  constructor(db: TestDatabase) {
    this.pool = poolFor(db.urlFor('bastion_projector'));
    const store = new PostgresEventStore(this.pool);
    this.runners = PROJECTIONS.map((p) => new ProjectionRunner(this.pool, store, p));
  }

  async catchUp(): Promise<void> {
    for (const runner of this.runners) await runner.catchUp();
  }
}
