import { UnrecoverableError } from 'bullmq';
import {
  approvedMerge,
  type CodePolicy,
  fold,
  mergeRequestDecider,
  type MergeRequestCommand,
  type MergeRequestEvent,
  toNewEvents,
  unmetMergeRules,
} from '@bastion/domain';
import { jobContext } from '../job-context';
import type { EventStore } from '@bastion/infra/event-store/event-store.port';
import { resolveRef } from '@bastion/infra/git/git-command';
import { MainMovedError, MergeConflictError } from '@bastion/infra/git/git-errors';
import { isFastForward } from '@bastion/infra/git/fast-forward';
import { mergeApproved } from '@bastion/infra/git/merge';
import { openRepository } from '@bastion/infra/git/repository-store';
import type { MergeJob } from '@bastion/infra/queue/queues';

export type MergeJobOutcome = 'merged' | 'already-merged' | 'already-recorded' | 'refused' | 'conflict';

export interface MergeDeps {
  /** The org's merge-request policy as it is now (authz.code_policy): re-checked before main moves. */
  readonly policyOf: (orgId: string) => Promise<CodePolicy>;
  readonly clock?: () => Date;
  /**
   * Test seam: runs after `update-ref` moved main and before the event is appended — where a crash would leave
   * main moved and nothing recorded. Production never passes it.
   */
  readonly afterMainMoved?: (mergeCommit: string) => Promise<void>;
}

/**
 * The merge worker: the only code that moves `main`. It re-reads the merge request, re-checks that the approvals of
 * the job's head are complete (a replayed job for a stale head is refused and recorded), and merges the approved
 * SHA — never the branch tip — with the author, committer, date and message fixed at approval, so a retry builds the
 * same commit. If the head is already in main (a crash after update-ref, before the event), the merge is recorded as
 * done, never as failed. Otherwise the org's current policy is re-checked (N approvals, a passing run) before main moves.
 */
export async function mergeApprovedRequest(store: EventStore, reposRoot: string, job: MergeJob, deps: MergeDeps): Promise<MergeJobOutcome> {
  const clock = deps.clock ?? (() => new Date());
  const stream = `mr-${job.mrId}`;
  const history = await store.readStream(stream);
  const state = fold(mergeRequestDecider, history as unknown as MergeRequestEvent[]);
  // The job must name this stream's merge request, of its org and repository (as the test-run worker checks): a
  // stream whose opening was appended around the decider could name another org's merge request.
  if (state.status === 'Empty' || state.orgId !== job.orgId || state.repoId !== job.repoId || state.mrId !== job.mrId) {
    throw new UnrecoverableError('the job names no merge request of this organisation and repository');
  }
  if (state.status === 'Merged') return 'already-recorded';
  const record = async (command: MergeRequestCommand) => {
    const decided = mergeRequestDecider.decide(command, state);
    if (decided.length === 0) return;
    const events = toNewEvents(decided, jobContext(job, clock()));
    await store.append(stream, events, history.length - 1);
  };
  const approved = approvedMerge(state);
  if (!approved || approved.headSha !== job.headSha) {
    await record({
      type: 'RecordMergeFailure',
      data: { headSha: job.headSha, reason: approved ? 'stale-head' : 'rules-no-longer-hold', detail: 'the approvals of this head are not complete or the head moved' },
    });
    return 'refused';
  }
  const repoPath = await openRepository(reposRoot, job.orgId, job.repoId);
  const main = await resolveRef(repoPath, 'refs/heads/main');
  if (!main) throw new Error('the repository has no main');
  if (await isFastForward(repoPath, approved.headSha, main)) {
    await record({ type: 'RecordMerge', data: { headSha: approved.headSha, mergeCommit: main, alreadyMerged: true } });
    return 'already-merged';
  }
  // The org's policy now, not at approval: N raised or passing tests required since then stops the merge.
  const unmet = unmetMergeRules(state, await deps.policyOf(job.orgId));
  if (unmet) {
    await record({ type: 'RecordMergeFailure', data: { headSha: approved.headSha, reason: 'rules-no-longer-hold', detail: unmet } });
    return 'refused';
  }
  const c = approved.commit;
  const date = new Date(c.date);
  try {
    const outcome = await mergeApproved(repoPath, {
      headSha: approved.headSha,
      expectedMain: main,
      author: { name: c.authorName, email: c.authorEmail, date },
      committer: { name: c.committerName, email: c.committerEmail, date },
      message: c.message,
    });
    if (outcome.outcome === 'merged') await deps.afterMainMoved?.(outcome.commit);
    await record({ type: 'RecordMerge', data: { headSha: approved.headSha, mergeCommit: outcome.commit, alreadyMerged: outcome.outcome === 'already-merged' } });
    return outcome.outcome;
  } catch (error) {
    if (error instanceof MergeConflictError) {
      await record({ type: 'RecordMergeFailure', data: { headSha: approved.headSha, reason: 'conflict', detail: error.message.slice(0, 500) } });
      return 'conflict';
    }
    if (error instanceof MainMovedError) throw error; // main moved between our read and the update: BullMQ retries
    throw error;
  }
}
