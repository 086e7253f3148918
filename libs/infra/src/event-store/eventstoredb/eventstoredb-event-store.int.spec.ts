import { eventStoreContract } from '../event-store.contract';
import { EventStoreDbEventStore } from './eventstoredb-event-store.adapter';

// The server is optional (DESIGN §3): `docker compose up eventstoredb`, then
// EVENTSTOREDB_URL='esdb://localhost:2113?tls=false' npm test — jest.config.js runs this suite only then.
const url = process.env.EVENTSTOREDB_URL;
if (!url) throw new Error('The EventStoreDB contract suite needs EVENTSTOREDB_URL (e.g. esdb://localhost:2113?tls=false).');

eventStoreContract(
  'EventStoreDB',
  async () => new EventStoreDbEventStore(url),
  async (store) => store.close(),
);
