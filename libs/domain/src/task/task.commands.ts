import type { Actor } from '../shared/event';
import type { Assignee, TaskStatus } from './task.events';

export type CreateTask = {
  type: 'CreateTask';
  data: { taskId: string; orgId: string; title: string; description: string; createdBy: string };
};
export type UpdateTask = { type: 'UpdateTask'; data: { title?: string; description?: string }; actor: Actor };
export type AssignTask = { type: 'AssignTask'; data: { assignee: Assignee | null }; actor: Actor };
export type MoveTask = { type: 'MoveTask'; data: { to: TaskStatus; position: number }; actor: Actor };
export type CancelTask = { type: 'CancelTask'; data: { reason: string | null }; actor: Actor };

export type TaskCommand = CreateTask | UpdateTask | AssignTask | MoveTask | CancelTask;
