import { DomainError } from '../shared/errors';

export class MergeRequestNotFoundError extends DomainError {
  readonly code = 'MR.NOT_FOUND';
  constructor() {
    super('The merge request does not exist.');
  }
}

export class MergeRequestClosedError extends DomainError {
  readonly code = 'MR.CLOSED';
  constructor() {
    super('The merge request is already merged.');
  }
}

/** Agents cannot approve. There is no setting that changes this. */
export class AgentCannotApproveError extends DomainError {
  readonly code = 'MR.AGENT_CANNOT_APPROVE';
  constructor() {
    super('Only a human can approve a merge request.');
  }
}

export class StaleHeadApprovalError extends DomainError {
  readonly code = 'MR.STALE_HEAD';
  constructor() {
    super('The approval names a head that is not the merge request’s current head (a push after approval voids it).');
  }
}

export class SelfApprovalError extends DomainError {
  readonly code = 'MR.SELF_APPROVAL';
  constructor() {
    super('Whoever opened the merge request or pushed to its source branch cannot approve it.');
  }
}

export class MfaNotFreshError extends DomainError {
  readonly code = 'MR.MFA_NOT_FRESH';
  constructor() {
    super('Approving needs an MFA verification within the last 15 minutes.');
  }
}

export class RequiredTestsNotPassedError extends DomainError {
  readonly code = 'MR.TESTS_REQUIRED';
  constructor() {
    super('A passing test run on the current head is required before approval.');
  }
}

export class AlreadyApprovedError extends DomainError {
  readonly code = 'MR.ALREADY_APPROVED';
  constructor() {
    super('This approver has already approved this head.');
  }
}

export class InvalidMergeRequestError extends DomainError {
  readonly code = 'MR.INVALID';
  constructor(reason: string) {
    super(`Invalid merge request: ${reason}.`);
  }
}

export class StaleHeadTestRunError extends DomainError {
  readonly code = 'MR.TEST_RUN_STALE_HEAD';
  constructor() {
    super('The test run names a head that is not the merge request’s current head.');
  }
}

export class TestRunNotFoundError extends DomainError {
  readonly code = 'MR.TEST_RUN_NOT_FOUND';
  constructor() {
    super('The merge request has no such test run.');
  }
}

/** N = 0, a fraction, or anything but the two known fields: refused, never rounded into shape. */
export class InvalidMergeRequestPolicyError extends DomainError {
  readonly code = 'MR.POLICY_INVALID';
  constructor(reason: string) {
    super(`Invalid merge-request policy: ${reason}.`);
  }
}
