import {
  fold,
  type OrganizationEvent,
  organizationDecider,
  streamId,
  SYSTEM_ACTOR,
  toNewEvents,
} from '@bastion/domain';
import type { EventStore } from '@bastion/infra/event-store/event-store.port';
import { uuidv7 } from '@bastion/infra/ids/uuid-v7';
import type { ProvisionOrganizationJob } from '@bastion/infra/queue/queues';

export type ProvisionOutcome = 'provisioned' | 'already-provisioned';

/**
 * Provisions an organisation's platform resources and records `OrganizationProvisioned`. Idempotent: it re-reads
 * the stream and lets the decider decide, and appends at the revision it read, so a retried or duplicated job
 * either finds the work done or loses the race cleanly (and BullMQ retries it into "already provisioned").
 */
export async function provisionOrganization(
  store: EventStore,
  job: ProvisionOrganizationJob,
  clock: () => Date = () => new Date(),
): Promise<ProvisionOutcome> {
  const stream = streamId('org', job.orgId);
  const history = await store.readStream(stream);
  const state = fold(organizationDecider, history as unknown as OrganizationEvent[]);
  const decided = organizationDecider.decide({ type: 'ProvisionOrganization', data: { orgId: job.orgId } }, state);
  if (decided.length === 0) return 'already-provisioned';
  const events = toNewEvents(decided, {
    orgId: job.orgId,
    actor: SYSTEM_ACTOR,
    authMethod: 'system',
    correlationId: job.correlationId,
    causationId: job.causationEventId,
    now: clock(),
    newId: () => uuidv7(),
  });
  await store.append(stream, events, history.length - 1);
  return 'provisioned';
}
