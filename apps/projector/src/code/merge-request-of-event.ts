import { fold, mergeRequestDecider, type MergeRequestEvent, type MergeRequestState } from '@bastion/domain';
import type { EventStore, RecordedEvent } from '@bastion/infra/event-store/event-store.port';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SHA = /^[0-9a-f]{40}$/;

/**
 * The merge request an event of the saga is about, folded from its stream, or null when the saga must not act on it:
 * the event is not in that merge request's own stream (SQL in a request can append, in its own org, an event naming
 * another org's merge request), the stream's opening names another merge request or another org than the event, an
 * id or SHA is not of the shape the API writes (a job id with a `:` makes the queue throw, forever), or the stream
 * cannot be folded (a malformed event appended around the decider: retrying would stop the saga for every org).
 */
export async function mergeRequestOfEvent(store: EventStore, event: RecordedEvent): Promise<Exclude<MergeRequestState, { status: 'Empty' }> | null> {
  const mrId = event.data.mrId;
  if (typeof mrId !== 'string' || !UUID.test(mrId) || event.streamId !== `mr-${mrId}`) return null;
  let state: MergeRequestState;
  try {
    state = fold(mergeRequestDecider, (await store.readStream(event.streamId)) as unknown as MergeRequestEvent[]);
  } catch (error) {
    if (error instanceof TypeError) return null;
    throw error;
  }
  // The opening names this very merge request, and what the saga puts in a job id has the shape the API gives it.
  if (state.status === 'Empty' || state.orgId !== event.metadata.orgId || state.mrId !== mrId) return null;
  if (!UUID.test(state.repoId) || !SHA.test(state.headSha)) return null;
  return state;
}
