import type { Pool } from 'pg';
import type { Config } from '../config/config';
import type { EventStore } from './event-store.port';
import { PostgresEventStore } from './postgres/postgres-event-store.adapter';

/**
 * The composition root's one choice between adapters (`EVENT_STORE`). The PostgreSQL store runs over the calling
 * process's own role pool; the EventStoreDB adapter is loaded only when selected.
 */
export async function createEventStore(config: Config, pool: Pool): Promise<EventStore> {
  switch (config.EVENT_STORE) {
    case 'postgres':
      return new PostgresEventStore(pool, { pollIntervalMs: config.PROJECTOR_POLL_MS });
    case 'eventstoredb': {
      const { EventStoreDbEventStore } = await import('./eventstoredb/eventstoredb-event-store.adapter');
      const store = new EventStoreDbEventStore(config.EVENTSTOREDB_URL!);
      await store.ping();
      return store;
    }
  }
}
