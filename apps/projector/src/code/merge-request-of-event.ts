import { fold, mergeRequestDecider, type MergeRequestEvent, type MergeRequestState } from '@bastion/domain';
import type { EventStore, RecordedEvent } from '@bastion/infra/event-store/event-store.port';

/**
 * The merge request an event of the saga is about, folded from its stream, or null when the saga must not act on it:
 * the event is not in that merge request's own stream (SQL in a request can append, in its own org, an event naming
 * another org's merge request), the merge request is of another org than the event, or its stream cannot be folded
 * (a malformed event appended around the decider: retrying would stop the saga for every organisation).
 */
export async function mergeRequestOfEvent(store: EventStore, event: RecordedEvent): Promise<Exclude<MergeRequestState, { status: 'Empty' }> | null> {
  const mrId = event.data.mrId;
  if (typeof mrId !== 'string' || event.streamId !== `mr-${mrId}`) return null;
  let state: MergeRequestState;
  try {
    state = fold(mergeRequestDecider, (await store.readStream(event.streamId)) as unknown as MergeRequestEvent[]);
  } catch (error) {
    if (error instanceof TypeError) return null;
    throw error;
  }
  if (state.status === 'Empty' || state.orgId !== event.metadata.orgId) return null;
  return state;
}
