/**
 * Failures of the git adapters, one class each, with a stable `code` the edge maps to problem+json. A refused push
 * is not an error but a decision (push-policy.ts); a failing test run is a result (sandbox.ts).
 */

export type GitErrorCode =
  | 'GIT.INVALID_ARGUMENT'
  | 'GIT.REPOSITORY_EXISTS'
  | 'GIT.REPOSITORY_NOT_FOUND'
  | 'GIT.COMMAND_FAILED'
  | 'GIT.MERGE_CONFLICT'
  | 'GIT.MAIN_MOVED'
  | 'GIT.MERGE_IN_PROGRESS'
  | 'GIT.CI_CONFIG_INVALID'
  | 'GIT.SANDBOX_UNAVAILABLE';

export abstract class GitError extends Error {
  abstract readonly code: GitErrorCode;
}

/** An org or repository id that is not a lowercase UUID, an object id that is not 40 hex digits, a bad identity… */
export class GitInvalidArgumentError extends GitError {
  override readonly name = 'GitInvalidArgumentError';
  readonly code = 'GIT.INVALID_ARGUMENT';
  constructor(
    readonly field: string,
    reason: string,
  ) {
    super(`${field}: ${reason}`);
  }
}

export class RepositoryExistsError extends GitError {
  override readonly name = 'RepositoryExistsError';
  readonly code = 'GIT.REPOSITORY_EXISTS';
}

export class RepositoryNotFoundError extends GitError {
  override readonly name = 'RepositoryNotFoundError';
  readonly code = 'GIT.REPOSITORY_NOT_FOUND';
}

/** git exited non-zero where the adapter expected success. `stderr` is for the log, never for the caller. */
export class GitCommandError extends GitError {
  override readonly name = 'GitCommandError';
  readonly code = 'GIT.COMMAND_FAILED';
  constructor(
    readonly args: readonly string[],
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(`git ${args[0] ?? ''} exited with ${exitCode ?? 'a signal'}`);
  }
}

/** The approved head does not merge cleanly into main; `paths` are the conflicted files, in git's order. */
export class MergeConflictError extends GitError {
  override readonly name = 'MergeConflictError';
  readonly code = 'GIT.MERGE_CONFLICT';
  constructor(readonly paths: readonly string[]) {
    super(`merge conflict in ${paths.length} path(s)`);
  }
}

/** `main` is neither where the approval expected it nor already at (or past) the merge this job would make. */
export class MainMovedError extends GitError {
  override readonly name = 'MainMovedError';
  readonly code = 'GIT.MAIN_MOVED';
  constructor(
    readonly expected: string,
    readonly actual: string | null,
  ) {
    super(`main is at ${actual ?? '(none)'}, expected ${expected}`);
  }
}

/** Another merge holds this repository's one-time merge token right now; retry the job later. */
export class MergeInProgressError extends GitError {
  override readonly name = 'MergeInProgressError';
  readonly code = 'GIT.MERGE_IN_PROGRESS';
}

/** `.bastion/ci.json` at the head is missing, not a regular file, too big, not JSON or not `{ "command": [...] }`. */
export class CiConfigInvalidError extends GitError {
  override readonly name = 'CiConfigInvalidError';
  readonly code = 'GIT.CI_CONFIG_INVALID';
}

/**
 * bubblewrap is missing or cannot build its namespaces on this host. Test runs are refused rather than run
 * without the sandbox: there is deliberately no unsandboxed fallback.
 */
export class SandboxUnavailableError extends GitError {
  override readonly name = 'SandboxUnavailableError';
  readonly code = 'GIT.SANDBOX_UNAVAILABLE';
  constructor(
    message: string,
    readonly detail: string,
  ) {
    super(message);
  }
}
