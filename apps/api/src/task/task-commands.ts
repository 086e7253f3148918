import { fold, type TaskCommand, taskDecider, type TaskEvent, TaskNotFoundError, toNewEvents } from '@bastion/domain';
import { PostgresEventStore } from '@bastion/infra/event-store/postgres/postgres-event-store.adapter';
import type { PoolClient } from 'pg';
import { type BastionRequest, commandContext } from '../auth/request-context';
import { type FieldSealer, sealEvents } from '../security/sealed-fields';

/**
 * Runs one task command inside the request's transaction: read the stream (under the events table's RLS — another
 * organisation's task is simply not there), decide, append at the revision read. The append itself passes the
 * events insert policy: the principal must hold the permission (or agent capability) its event type requires.
 *
 * The decider checks the description as written (its length is the plaintext's); the description is then sealed
 * under the org's DEK (`sealer`, made before this transaction) and only the token is appended. A command whose
 * events carry a description and no sealer is refused, never appended in plaintext.
 */
export async function runTaskCommand(
  tx: PoolClient,
  req: BastionRequest,
  orgId: string,
  taskId: string,
  command: TaskCommand,
  sealer?: FieldSealer,
): Promise<TaskEvent[]> {
  const store = new PostgresEventStore(tx);
  const stream = `task-${taskId}`;
  const history = await store.readStream(stream);
  const state = fold(taskDecider, history as unknown as TaskEvent[]);
  if (state.status !== 'Empty' && state.orgId !== orgId) throw new TaskNotFoundError();
  const decided = taskDecider.decide(command, state);
  if (decided.length > 0) {
    const events = sealEvents(toNewEvents(decided, commandContext(req, { orgId })), sealer);
    await store.append(stream, events, history.length === 0 ? 'no_stream' : history.length - 1);
  }
  return decided;
}
