import { approvedMerge } from '@bastion/domain';
import type { EventStore } from '@bastion/infra/event-store/event-store.port';
import type { Reactor } from '@bastion/infra/projection/projection';
import type { JobQueue } from '@bastion/infra/queue/job-queue';
import { mergeRequestOfEvent } from './merge-request-of-event';

/**
 * The merge saga's trigger (the design card's "a saga allows a merge only after it receives a HumanApproved
 * event"): on `MergeRequestApproved`, when the approvals of the current head are complete, one merge job keyed by
 * (merge request, head SHA). Durable: a checkpointed subscription and a deterministic job id, not an in-memory bus.
 * The worker re-checks every rule anyway; this only automates what the domain already allows.
 */
export function enqueueMergeWhenMergeRequestApproved(store: EventStore, queue: JobQueue<'merges'>): Reactor {
  return {
    kind: 'reactor',
    name: 'enqueue-merge-when-merge-request-approved',
    handles: ['MergeRequestApproved'],
    async react(event) {
      const state = await mergeRequestOfEvent(store, event);
      const merge = state && approvedMerge(state);
      if (!state || !merge || state.status !== 'Open') return;
      const mrId = state.mrId;
      // Keyed by (merge request, head, approvers so far): a replay adds nothing, but when a merge was refused because
      // the org raised N after the first approval, the approval that completes the new N still gets its job.
      const approvers = new Set(state.approvals.filter((a) => a.headSha === merge.headSha).map((a) => a.approverId)).size;
      await queue.add(`merge-${mrId}-${merge.headSha}-${approvers}`, { orgId: state.orgId, repoId: state.repoId, mrId, headSha: merge.headSha, causationEventId: event.id, correlationId: event.metadata.correlationId });
    },
  };
}
