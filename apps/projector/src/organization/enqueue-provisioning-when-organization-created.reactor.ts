import type { OrganizationCreated } from '@bastion/domain';
import type { Reactor } from '@bastion/infra/projection/projection';
import type { JobQueue } from '@bastion/infra/queue/job-queue';
import { jobIdFor } from '@bastion/infra/queue/queues';

/** `OrganizationCreated` → one provisioning job, whose id is derived from the event (so a replay adds nothing). */
export function enqueueProvisioningWhenOrganizationCreated(queue: JobQueue<'organization-provisioning'>): Reactor {
  return {
    kind: 'reactor',
    name: 'enqueue-provisioning-when-organization-created',
    handles: ['OrganizationCreated'],
    async react(event) {
      const data = event.data as OrganizationCreated['data'];
      await queue.add(jobIdFor('provision-org', event.id), {
        orgId: data.orgId,
        causationEventId: event.id,
        correlationId: event.metadata.correlationId,
      });
    },
  };
}
