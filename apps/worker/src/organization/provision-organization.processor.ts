import {
  fold,
  type OrganizationEvent,
  organizationDecider,
  streamId,
  toNewEvents,
} from '@bastion/domain';
import { jobContext } from '../job-context';
import type { EventStore } from '@bastion/infra/event-store/event-store.port';
import type { ProvisionOrganizationJob } from '@bastion/infra/queue/queues';

export type ProvisionOutcome = 'provisioned' | 'already-provisioned';

/**
 * The org stream also holds facts of other deciders (MemberAdded at creation, OrgKeyCreated and the other key
 * events): the organization decider folds only its own, and the append still expects the stream's last revision.
 */
const ORGANIZATION_EVENT_TYPES: ReadonlySet<string> = new Set<OrganizationEvent['type']>(['OrganizationCreated', 'OrganizationProvisioned']);

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
  const own = history.filter((event) => ORGANIZATION_EVENT_TYPES.has(event.type));
  const state = fold(organizationDecider, own as unknown as OrganizationEvent[]);
  const decided = organizationDecider.decide({ type: 'ProvisionOrganization', data: { orgId: job.orgId } }, state);
  if (decided.length === 0) return 'already-provisioned';
  const events = toNewEvents(decided, jobContext(job, clock()));
  await store.append(stream, events, history.length - 1);
  return 'provisioned';
}
