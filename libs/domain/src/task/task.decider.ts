import type { Decider } from '../shared/decider';
import { assertNever } from '../shared/errors';
import type { Actor } from '../shared/event';
import type { AssignTask, CancelTask, CreateTask, MoveTask, TaskCommand, UpdateTask } from './task.commands';
import {
  AgentCannotAssignError,
  InvalidTaskError,
  TaskAlreadyExistsError,
  TaskClosedError,
  TaskNotAssignedToAgentError,
  TaskNotFoundError,
} from './task.errors';
import { type Assignee, TASK_STATUSES, type TaskEvent, type TaskStatus } from './task.events';

export type TaskState =
  | { status: 'Empty' }
  | { status: 'Open'; taskId: string; orgId: string; column: TaskStatus; assignee: Assignee | null }
  | { status: 'Cancelled'; taskId: string; orgId: string };

export const TASK_TITLE_MAX = 200;
export const TASK_DESCRIPTION_MAX = 20_000;

function checkTitle(title: string): string {
  const trimmed = title.trim();
  if (trimmed.length === 0) throw new InvalidTaskError('the title is empty');
  if (trimmed.length > TASK_TITLE_MAX) throw new InvalidTaskError(`the title is longer than ${TASK_TITLE_MAX} characters`);
  if (/\p{Cc}/u.test(trimmed)) throw new InvalidTaskError('the title contains control characters');
  return trimmed;
}

function checkDescription(description: string): string {
  if (description.length > TASK_DESCRIPTION_MAX) throw new InvalidTaskError(`the description is longer than ${TASK_DESCRIPTION_MAX} characters`);
  return description;
}

function open(state: TaskState) {
  if (state.status === 'Empty') throw new TaskNotFoundError();
  if (state.status === 'Cancelled') throw new TaskClosedError();
  return state;
}

/** An agent may act on a task only while it is the assignee. */
function mayAct(actor: Actor, state: { assignee: Assignee | null }) {
  if (actor.type === 'agent' && (state.assignee?.type !== 'agent' || state.assignee.id !== actor.id)) {
    throw new TaskNotAssignedToAgentError();
  }
}

function create(command: CreateTask, state: TaskState): TaskEvent[] {
  if (state.status !== 'Empty') throw new TaskAlreadyExistsError();
  return [
    {
      type: 'TaskCreated',
      data: {
        ...command.data,
        title: checkTitle(command.data.title),
        description: checkDescription(command.data.description),
        status: 'backlog',
        position: 0,
      },
    },
  ];
}

function update(command: UpdateTask, state: TaskState): TaskEvent[] {
  const current = open(state);
  mayAct(command.actor, current);
  const data: { taskId: string; title?: string; description?: string } = { taskId: current.taskId };
  if (command.data.title !== undefined) data.title = checkTitle(command.data.title);
  if (command.data.description !== undefined) data.description = checkDescription(command.data.description);
  if (data.title === undefined && data.description === undefined) return [];
  return [{ type: 'TaskUpdated', data }];
}

function assign(command: AssignTask, state: TaskState): TaskEvent[] {
  const current = open(state);
  if (command.actor.type === 'agent') throw new AgentCannotAssignError();
  const next = command.data.assignee;
  if ((next?.type ?? null) === (current.assignee?.type ?? null) && (next?.id ?? null) === (current.assignee?.id ?? null)) return [];
  return [{ type: 'TaskAssigned', data: { taskId: current.taskId, assignee: next } }];
}

function move(command: MoveTask, state: TaskState): TaskEvent[] {
  const current = open(state);
  mayAct(command.actor, current);
  const { to, position } = command.data;
  if (!TASK_STATUSES.includes(to) || to === 'cancelled') throw new InvalidTaskError(`cannot move to ${JSON.stringify(to)}`);
  if (!Number.isInteger(position) || position < 0 || position > 1_000_000) throw new InvalidTaskError('the position must be an integer from 0 to 1,000,000');
  return [{ type: 'TaskMoved', data: { taskId: current.taskId, from: current.column, to, position } }];
}

function cancel(command: CancelTask, state: TaskState): TaskEvent[] {
  const current = open(state);
  if (command.actor.type === 'agent') throw new TaskNotAssignedToAgentError();
  return [{ type: 'TaskCancelled', data: { taskId: current.taskId, reason: command.data.reason } }];
}

export const taskDecider: Decider<TaskCommand, TaskEvent, TaskState> = {
  initialState: () => ({ status: 'Empty' }),
  decide(command, state) {
    switch (command.type) {
      case 'CreateTask':
        return create(command, state);
      case 'UpdateTask':
        return update(command, state);
      case 'AssignTask':
        return assign(command, state);
      case 'MoveTask':
        return move(command, state);
      case 'CancelTask':
        return cancel(command, state);
      default:
        return assertNever(command);
    }
  },
  evolve(state, event) {
    switch (event.type) {
      case 'TaskCreated':
        return { status: 'Open', taskId: event.data.taskId, orgId: event.data.orgId, column: event.data.status, assignee: null };
      case 'TaskUpdated':
        return state;
      case 'TaskAssigned':
        return state.status === 'Open' ? { ...state, assignee: event.data.assignee } : state;
      case 'TaskMoved':
        return state.status === 'Open' ? { ...state, column: event.data.to } : state;
      case 'TaskCancelled':
        return state.status === 'Empty' ? state : { status: 'Cancelled', taskId: state.taskId, orgId: state.orgId };
      default:
        return assertNever(event);
    }
  },
};
