import { eventStoreContract } from '../event-store.contract';
import { EventStoreDbEventStore } from './eventstoredb-event-store.adapter';

// The server is optional (DESIGN §3): `docker compose up eventstoredb`, then
// EVENTSTOREDB_URL='esdb://localhost:2113?tls=false' npx jest libs/infra/src/event-store/eventstoredb
const url = process.env.EVENTSTOREDB_URL;

if (url) {
  eventStoreContract(
    'EventStoreDB',
    async () => new EventStoreDbEventStore(url),
    async (store) => store.close(),
  );
} else {
  it.skip('EventStoreDB contract suite: needs EVENTSTOREDB_URL (e.g. esdb://localhost:2113?tls=false)', () => undefined);
}
