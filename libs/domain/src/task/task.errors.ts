import { DomainError } from '../shared/errors';

export class TaskNotFoundError extends DomainError {
  readonly code = 'TASK.NOT_FOUND';
  constructor() {
    super('The task does not exist.');
  }
}

export class TaskAlreadyExistsError extends DomainError {
  readonly code = 'TASK.ALREADY_EXISTS';
  constructor() {
    super('The task already exists.');
  }
}

export class TaskClosedError extends DomainError {
  readonly code = 'TASK.CLOSED';
  constructor() {
    super('The task is cancelled; it can no longer change.');
  }
}

export class InvalidTaskError extends DomainError {
  readonly code = 'TASK.INVALID';
  constructor(readonly reason: string) {
    super(`Invalid task: ${reason}.`);
  }
}

/** Agents act only on the tasks assigned to them (DESIGN §6). */
export class TaskNotAssignedToAgentError extends DomainError {
  readonly code = 'TASK.NOT_ASSIGNED_TO_AGENT';
  constructor() {
    super('An agent may change only the tasks assigned to it.');
  }
}

/** Assignment is a human's decision; an agent cannot assign or reassign. */
export class AgentCannotAssignError extends DomainError {
  readonly code = 'TASK.AGENT_CANNOT_ASSIGN';
  constructor() {
    super('Agents cannot assign tasks.');
  }
}
