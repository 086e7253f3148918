import { fold, mergeRequestDecider, type MergeRequestEvent, type RecordTestRun, toNewEvents } from '@bastion/domain';
import { jobContext } from '../job-context';
import { type EventStore, WrongExpectedRevisionError } from '@bastion/infra/event-store/event-store.port';
import { readCiConfig } from '@bastion/infra/git/ci-config';
import { CiConfigInvalidError } from '@bastion/infra/git/git-errors';
import { openRepository } from '@bastion/infra/git/repository-store';
import { runTestsSandboxed } from '@bastion/infra/git/sandbox';
import type { TestRunJob } from '@bastion/infra/queue/queues';
import { UnrecoverableError } from 'bullmq';

export type TestRunJobOutcome = 'passed' | 'failed' | 'invalid-config' | 'already-recorded';

export interface TestRunLimits {
  readonly timeoutMs: number;
  readonly memoryBytes: number;
}

export interface TestRunDeps {
  readonly limits: TestRunLimits;
  /** Where the run's clone is made (the OS temporary directory by default); it is removed whatever happens. */
  readonly tempRoot?: string;
  readonly clock?: () => Date;
}

/** Captured so a runaway command cannot fill memory; none of it is stored (see TestRunCompleted). */
const OUTPUT_LIMIT_BYTES = 64 * 1024;

/**
 * Runs a requested test run: re-reads the merge request, takes the head the run was requested on (never the branch
 * tip), reads `.bastion/ci.json` at that head from the object store, and runs the command in the sandbox — a fresh
 * `git clone --no-local` of the head in a temporary directory (never a worktree of the bare repository), under
 * bubblewrap with the limits, no network, no host sockets and an empty environment; the directory is removed after.
 * Idempotent: a run whose outcome is recorded is not run again, and a second record decides nothing.
 */
export async function runRequestedTests(store: EventStore, reposRoot: string, job: TestRunJob, deps: TestRunDeps): Promise<TestRunJobOutcome> {
  const stream = `mr-${job.mrId}`;
  const state = fold(mergeRequestDecider, (await store.readStream(stream)) as unknown as MergeRequestEvent[]);
  if (state.status === 'Empty' || state.orgId !== job.orgId || state.repoId !== job.repoId) {
    throw new UnrecoverableError('the job names no merge request of this organisation and repository');
  }
  const run = state.runs[job.runId];
  if (!run) throw new UnrecoverableError('the merge request has no such test run');
  if (run.completed) return 'already-recorded';

  const repoPath = await openRepository(reposRoot, job.orgId, job.repoId);
  let outcome: RecordTestRun['data'];
  try {
    const { command } = await readCiConfig(repoPath, run.headSha);
    const result = await runTestsSandboxed(repoPath, run.headSha, {
      command,
      timeoutMs: deps.limits.timeoutMs,
      memoryBytes: deps.limits.memoryBytes,
      outputLimitBytes: OUTPUT_LIMIT_BYTES,
      tempRoot: deps.tempRoot,
    });
    outcome = { runId: job.runId, passed: result.passed, exitCode: result.exitCode, timedOut: result.timedOut, durationMs: result.durationMs };
  } catch (error) {
    // A missing or malformed ci.json is the head's fault, and final: recorded as a failed run where nothing ran.
    // Anything else (no sandbox, git failing) is ours: the job fails and BullMQ retries it, with nothing recorded.
    if (!(error instanceof CiConfigInvalidError)) throw error;
    outcome = { runId: job.runId, passed: false, exitCode: null, timedOut: false, durationMs: 0, invalidConfig: true };
  }
  const recorded = await record(store, stream, job, outcome, deps.clock ?? (() => new Date()));
  if (!recorded) return 'already-recorded';
  return outcome.invalidConfig ? 'invalid-config' : outcome.passed ? 'passed' : 'failed';
}

/** Appends the outcome against the stream as it is now: a push or a comment meanwhile must not cost a re-run. */
async function record(store: EventStore, stream: string, job: TestRunJob, outcome: RecordTestRun['data'], clock: () => Date): Promise<boolean> {
  for (let attempt = 0; ; attempt += 1) {
    const history = await store.readStream(stream);
    const decided = mergeRequestDecider.decide({ type: 'RecordTestRun', data: outcome }, fold(mergeRequestDecider, history as unknown as MergeRequestEvent[]));
    if (decided.length === 0) return false;
    const events = toNewEvents(decided, jobContext(job, clock()));
    try {
      await store.append(stream, events, history.length - 1);
      return true;
    } catch (error) {
      if (!(error instanceof WrongExpectedRevisionError) || attempt >= 4) throw error;
    }
  }
}
