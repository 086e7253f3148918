import { deciderSpec } from '../testing/given-when-then';
import { taskDecider } from './task.decider';
import { AgentCannotAssignError, InvalidTaskError, TaskClosedError, TaskNotAssignedToAgentError, TaskNotFoundError } from './task.errors';
import type { TaskAssigned, TaskCreated } from './task.events';

const taskId = '0190f5a0-0000-7000-8000-000000000001';
const orgId = '0190f5a0-0000-7000-8000-000000000002';
const human = { type: 'human' as const, id: '0190f5a0-0000-7000-8000-0000000000aa' };
const agent = { type: 'agent' as const, id: '0190f5a0-0000-7000-8000-0000000000bb' };
const otherAgent = { type: 'agent' as const, id: '0190f5a0-0000-7000-8000-0000000000cc' };
const created: TaskCreated = {
  type: 'TaskCreated',
  data: { taskId, orgId, title: 'Ship it', description: 'secret plan', status: 'backlog', position: 0, createdBy: human.id },
};
const assignedToAgent: TaskAssigned = { type: 'TaskAssigned', data: { taskId, assignee: agent } };
const spec = deciderSpec(taskDecider);

describe('task decider', () => {
  it('creates a task in the backlog', () => {
    expect(spec
      .given([])
      .when({ type: 'CreateTask', data: { taskId, orgId, title: ' Ship it ', description: 'secret plan', createdBy: human.id } }).events()).toEqual([created]);
  });

  it('refuses an empty title', () => {
    expect(spec.given([]).when({ type: 'CreateTask', data: { taskId, orgId, title: ' ', description: '', createdBy: human.id } }).error()).toBeInstanceOf(InvalidTaskError);
  });

  it('a human moves any task; every move records from and to', () => {
    expect(spec.given([created]).when({ type: 'MoveTask', data: { to: 'in_progress', position: 3 }, actor: human }).events()).toEqual([
      { type: 'TaskMoved', data: { taskId, from: 'backlog', to: 'in_progress', position: 3 } },
    ]);
  });

  it('an agent moves a task assigned to it', () => {
    expect(spec.given([created, assignedToAgent]).when({ type: 'MoveTask', data: { to: 'review', position: 0 }, actor: agent }).events()).toEqual([
      { type: 'TaskMoved', data: { taskId, from: 'backlog', to: 'review', position: 0 } },
    ]);
  });

  it('an agent cannot move or edit a task assigned to someone else', () => {
    expect(spec.given([created, assignedToAgent]).when({ type: 'MoveTask', data: { to: 'done', position: 0 }, actor: otherAgent }).error()).toBeInstanceOf(TaskNotAssignedToAgentError);
    expect(spec.given([created]).when({ type: 'UpdateTask', data: { title: 'mine now' }, actor: agent }).error()).toBeInstanceOf(TaskNotAssignedToAgentError);
  });

  it('an agent cannot assign, reassign or cancel', () => {
    expect(spec.given([created, assignedToAgent]).when({ type: 'AssignTask', data: { assignee: otherAgent }, actor: agent }).error()).toBeInstanceOf(AgentCannotAssignError);
    expect(spec.given([created, assignedToAgent]).when({ type: 'CancelTask', data: { reason: null }, actor: agent }).error()).toBeInstanceOf(TaskNotAssignedToAgentError);
  });

  it('assigning the same assignee again decides nothing', () => {
    expect(spec.given([created, assignedToAgent]).when({ type: 'AssignTask', data: { assignee: agent }, actor: human }).events()).toEqual([]);
  });

  it('a cancelled task no longer changes', () => {
    expect(spec
      .given([created, { type: 'TaskCancelled', data: { taskId, reason: null } }])
      .when({ type: 'MoveTask', data: { to: 'todo', position: 0 }, actor: human }).error()).toBeInstanceOf(TaskClosedError);
  });

  it('a missing task cannot be moved', () => {
    expect(spec.given([]).when({ type: 'MoveTask', data: { to: 'todo', position: 0 }, actor: human }).error()).toBeInstanceOf(TaskNotFoundError);
  });

  it('cannot be moved to "cancelled" (cancel is its own command) or to an unknown column', () => {
    expect(spec.given([created]).when({ type: 'MoveTask', data: { to: 'cancelled', position: 0 }, actor: human }).error()).toBeInstanceOf(InvalidTaskError);
    expect(spec.given([created]).when({ type: 'MoveTask', data: { to: 'nowhere' as never, position: 0 }, actor: human }).error()).toBeInstanceOf(InvalidTaskError);
  });
});
