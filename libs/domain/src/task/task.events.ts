import type { DomainEvent } from '../shared/event';

export const TASK_STATUSES = ['backlog', 'todo', 'in_progress', 'review', 'done', 'cancelled'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

export interface Assignee {
  readonly type: 'human' | 'agent';
  readonly id: string;
}

/** `description` is a sensitive field: the BYOK issue stores it encrypted (the same ciphertext in event and read model). */
export type TaskCreated = DomainEvent<
  'TaskCreated',
  { taskId: string; orgId: string; title: string; description: string; status: TaskStatus; position: number; createdBy: string }
>;
export type TaskUpdated = DomainEvent<'TaskUpdated', { taskId: string; title?: string; description?: string }>;
export type TaskAssigned = DomainEvent<'TaskAssigned', { taskId: string; assignee: Assignee | null }>;
export type TaskMoved = DomainEvent<'TaskMoved', { taskId: string; from: TaskStatus; to: TaskStatus; position: number }>;
export type TaskCancelled = DomainEvent<'TaskCancelled', { taskId: string; reason: string | null }>;

export type TaskEvent = TaskCreated | TaskUpdated | TaskAssigned | TaskMoved | TaskCancelled;
