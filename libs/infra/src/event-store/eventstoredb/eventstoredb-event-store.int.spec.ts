import { randomUUID } from 'node:crypto';
import { eventStoreContract } from '../event-store.contract';
import { EventStoreDbEventStore } from './eventstoredb-event-store.adapter';

// The server is optional (DESIGN §3): `docker compose up eventstoredb`, then
// EVENTSTOREDB_URL='esdb://localhost:2113?tls=false' npm test — jest.config.js runs this suite only then.
const url = process.env.EVENTSTOREDB_URL;
if (!url) throw new Error('The EventStoreDB contract suite needs EVENTSTOREDB_URL (e.g. esdb://localhost:2113?tls=false).');

// Every assertion of the port lives in the shared contract; both adapters must pass the same one.
eventStoreContract(
  'EventStoreDB',
  async () => new EventStoreDbEventStore(url),
  async (store) => store.close(),
);

describe('the EventStoreDB adapter', () => {
  it('talks to the server it was given: it names itself, and a stream nobody wrote reads back empty', async () => {
    const store = new EventStoreDbEventStore(url);
    try {
      expect(store.kind).toBe('eventstoredb');
      expect(await store.readStream(`never-written-${randomUUID()}`)).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
