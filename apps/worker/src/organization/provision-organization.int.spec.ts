/**
 * Provisioning folds only the organization decider's own events: the org stream also holds MemberAdded (written at
 * creation) and the key events (OrgKeyCreated at creation, then rewraps and revocations), which that decider does
 * not know.
 */
import { randomUUID } from 'node:crypto';
import { PostgresEventStore } from '@bastion/infra/event-store/postgres/postgres-event-store.adapter';
import { closePools, poolFor, workerDatabase } from '../../../../test/support/database';
import { newEvent } from '../../../../test/support/events';
import { provisionOrganization } from './provision-organization.processor';

let store: PostgresEventStore;

beforeAll(async () => {
  const db = await workerDatabase();
  store = new PostgresEventStore(poolFor(db.urlFor('bastion_worker')));
});
afterAll(async () => {
  await closePools();
});

it('provisions an org whose stream also holds its first member and its data key, once', async () => {
  const orgId = randomUUID();
  const userId = randomUUID();
  const created = newEvent('OrganizationCreated', { orgId, name: 'Acme', createdBy: userId, providerId: null }, { orgId });
  await store.append(
    `org-${orgId}`,
    [
      created,
      newEvent('MemberAdded', { orgId, userId, role: 'admin' }, { orgId }),
      newEvent('OrgKeyCreated', { orgId, version: 1, keyRef: 'local://platform', provider: 'local' }, { orgId }),
    ],
    'no_stream',
  );
  const job = { orgId, correlationId: created.metadata.correlationId, causationEventId: created.id };
  expect(await provisionOrganization(store, job)).toBe('provisioned');
  expect(await provisionOrganization(store, job)).toBe('already-provisioned');
  const types = (await store.readStream(`org-${orgId}`)).map((event) => event.type);
  expect(types).toEqual(['OrganizationCreated', 'MemberAdded', 'OrgKeyCreated', 'OrganizationProvisioned']);
});
