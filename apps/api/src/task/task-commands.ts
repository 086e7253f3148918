import { fold, type TaskCommand, taskDecider, type TaskEvent, TaskNotFoundError, toNewEvents } from '@bastion/domain';
import { PostgresEventStore } from '@bastion/infra/event-store/postgres/postgres-event-store.adapter';
import type { PoolClient } from 'pg';
import { type BastionRequest, commandContext } from '../auth/request-context';

/**
 * Runs one task command inside the request's transaction: read the stream (under the events table's RLS — another
 * organisation's task is simply not there), decide, append at the revision read. The append itself passes the
 * events insert policy: the principal must hold the permission (or agent capability) its event type requires.
 */
export async function runTaskCommand(tx: PoolClient, req: BastionRequest, orgId: string, taskId: string, command: TaskCommand): Promise<TaskEvent[]> {
  const store = new PostgresEventStore(tx);
  const stream = `task-${taskId}`;
  const history = await store.readStream(stream);
  const state = fold(taskDecider, history as unknown as TaskEvent[]);
  if (state.status !== 'Empty' && state.orgId !== orgId) throw new TaskNotFoundError();
  const decided = taskDecider.decide(command, state);
  if (decided.length > 0) {
    await store.append(stream, toNewEvents(decided, commandContext(req, { orgId })), history.length === 0 ? 'no_stream' : history.length - 1);
  }
  return decided;
}
