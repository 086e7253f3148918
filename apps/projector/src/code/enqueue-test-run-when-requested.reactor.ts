import type { TestRunRequested } from '@bastion/domain';
import type { EventStore } from '@bastion/infra/event-store/event-store.port';
import type { Reactor } from '@bastion/infra/projection/projection';
import type { JobQueue } from '@bastion/infra/queue/job-queue';
import { jobIdFor } from '@bastion/infra/queue/queues';
import { mergeRequestOfEvent } from './merge-request-of-event';

/**
 * `TestRunRequested` → one `test-runs` job. From the checkpointed subscription rather than the API after its commit,
 * so a request whose API died between the commit and the enqueue still runs. The job id is derived from the event,
 * so a replay (a crash before the checkpoint, a reset) adds nothing while BullMQ keeps the id; after that the
 * worker's own guard (it re-reads the stream) records nothing twice. A run already recorded is not enqueued again.
 */
export function enqueueTestRunWhenRequested(store: EventStore, queue: JobQueue<'test-runs'>): Reactor {
  return {
    kind: 'reactor',
    name: 'enqueue-test-run-when-requested',
    handles: ['TestRunRequested'],
    async react(event) {
      const { mrId, runId } = event.data as TestRunRequested['data'];
      // The event names neither the org's repository nor (in data) the org: the stream's own opening does.
      const state = await mergeRequestOfEvent(store, event);
      if (!state || state.runs[runId]?.completed !== false) return;
      await queue.add(jobIdFor('test-run', event.id), {
        orgId: state.orgId,
        repoId: state.repoId,
        mrId,
        runId,
        causationEventId: event.id,
        correlationId: event.metadata.correlationId,
      });
    },
  };
}
