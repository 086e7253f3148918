import { randomUUID } from 'node:crypto';
import type { EventStore, Position, RecordedEvent } from '@bastion/infra/event-store/event-store.port';
import { mergeRequestOfEvent } from './merge-request-of-event';

const orgA = randomUUID();
const orgV = randomUUID();
const human = { type: 'human', id: randomUUID() };

function recorded(streamId: string, revision: number, type: string, data: Record<string, unknown>, orgId: string): RecordedEvent {
  return {
    id: randomUUID(),
    type,
    streamId,
    revision,
    position: String(revision) as Position,
    data,
    metadata: { orgId, actor: human, occurredAt: new Date().toISOString() } as unknown as RecordedEvent['metadata'],
  };
}

/** A store of one stream per merge request; it records which streams were read. */
function storeOf(streams: Record<string, RecordedEvent[]>): EventStore & { read: string[] } {
  const read: string[] = [];
  return {
    read,
    readStream: async (id: string) => {
      read.push(id);
      return streams[id] ?? [];
    },
  } as unknown as EventStore & { read: string[] };
}

function openedIn(orgId: string): { mrId: string; stream: string; opened: RecordedEvent } {
  const mrId = randomUUID();
  const stream = `mr-${mrId}`;
  const data = { mrId, repoId: randomUUID(), orgId, sourceBranch: 'agent/x', headSha: 'a'.repeat(40), title: 't', description: '', openedBy: human };
  return { mrId, stream, opened: recorded(stream, 0, 'MergeRequestOpened', data, orgId) };
}

describe('the merge saga acts only on the merge request of the event’s own stream and org', () => {
  it('folds the merge request the event belongs to', async () => {
    const { mrId, stream, opened } = openedIn(orgA);
    const approved = recorded(stream, 1, 'MergeRequestApproved', { mrId, headSha: 'a'.repeat(40), approverId: human.id, requiredApprovals: 1, commit: {} }, orgA);
    const state = await mergeRequestOfEvent(storeOf({ [stream]: [opened, approved] }), approved);
    expect(state).toMatchObject({ status: 'Open', mrId, orgId: orgA });
  });

  it('an event in the attacker’s own stream naming another org’s merge request is ignored, unread', async () => {
    const victim = openedIn(orgV);
    const store = storeOf({ [victim.stream]: [victim.opened] });
    const planted = recorded(`mr-${randomUUID()}`, 0, 'TestRunRequested', { mrId: victim.mrId, runId: randomUUID(), headSha: 'b'.repeat(40), requestedBy: human }, orgA);
    expect(await mergeRequestOfEvent(store, planted)).toBeNull();
    expect(store.read).toEqual([]);
  });

  it('an event of one org in a merge request stream of another is ignored', async () => {
    const victim = openedIn(orgV);
    const planted = recorded(victim.stream, 1, 'MergeRequestApproved', { mrId: victim.mrId, headSha: 'a'.repeat(40), approverId: human.id, requiredApprovals: 1, commit: {} }, orgA);
    expect(await mergeRequestOfEvent(storeOf({ [victim.stream]: [victim.opened, planted] }), planted)).toBeNull();
  });

  it('a foreign event type in the stream is skipped by the fold; a malformed one makes the stream unusable, not the saga', async () => {
    const { mrId, stream, opened } = openedIn(orgA);
    const foreign = recorded(stream, 1, 'TaskMoved', { taskId: randomUUID(), status: 'done' }, orgA);
    const requested = recorded(stream, 2, 'TestRunRequested', { mrId, runId: randomUUID(), headSha: 'a'.repeat(40), requestedBy: human }, orgA);
    expect(await mergeRequestOfEvent(storeOf({ [stream]: [opened, foreign, requested] }), requested)).toMatchObject({ status: 'Open', mrId });

    const malformed = recorded(stream, 1, 'MergeRequestHeadUpdated', { mrId, headSha: 'c'.repeat(40), pushedBy: null }, orgA);
    expect(await mergeRequestOfEvent(storeOf({ [stream]: [opened, malformed, requested] }), requested)).toBeNull();
  });

  it('an opening that names another merge request, or ids of another shape than the API writes, is not acted on', async () => {
    const victim = openedIn(orgV);
    const own = openedIn(orgA);
    // The attacker's own stream opens with the victim's merge request id.
    const decoy = { ...own.opened, data: { ...own.opened.data, mrId: victim.mrId } };
    const approval = recorded(own.stream, 1, 'MergeRequestApproved', { mrId: own.mrId, headSha: 'a'.repeat(40), approverId: human.id, requiredApprovals: 1, commit: {} }, orgA);
    expect(await mergeRequestOfEvent(storeOf({ [own.stream]: [decoy, approval] }), approval)).toBeNull();
    // A stream named `mr-a:b` (a job id with a colon makes the queue throw on every retry).
    const colon = recorded('mr-a:b', 1, 'MergeRequestApproved', { mrId: 'a:b', headSha: 'a'.repeat(40), approverId: human.id, requiredApprovals: 1, commit: {} }, orgA);
    expect(await mergeRequestOfEvent(storeOf({ 'mr-a:b': [{ ...own.opened, streamId: 'mr-a:b', data: { ...own.opened.data, mrId: 'a:b' } }, colon] }), colon)).toBeNull();
    // A head that is no SHA.
    const badHead = { ...own.opened, data: { ...own.opened.data, headSha: 'h:1' } };
    expect(await mergeRequestOfEvent(storeOf({ [own.stream]: [badHead, approval] }), approval)).toBeNull();
  });
});
