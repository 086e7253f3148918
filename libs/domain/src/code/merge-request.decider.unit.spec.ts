import { deciderSpec } from '../testing/given-when-then';
import type { MergeCommitSpec, MergeRequestApproved, MergeRequestOpened } from './code.events';
import { approvedMerge, type HumanApprover, mergeRequestDecider, mergeRequestPolicy, unmetMergeRules } from './merge-request.decider';
import {
  AgentCannotApproveError,
  AlreadyApprovedError,
  InvalidMergeRequestPolicyError,
  MfaNotFreshError,
  RequiredTestsNotPassedError,
  SelfApprovalError,
  StaleHeadApprovalError,
  StaleHeadTestRunError,
  TestRunNotFoundError,
} from './merge-request.errors';

const mrId = '0190f5a0-0000-7000-8000-0000000000a1';
const head = 'a'.repeat(40);
const newer = 'b'.repeat(40);
const agent = { type: 'agent' as const, id: '0190f5a0-0000-7000-8000-0000000000b1' };
const alice = { type: 'human' as const, id: '0190f5a0-0000-7000-8000-0000000000c1' };
const bob = { type: 'human' as const, id: '0190f5a0-0000-7000-8000-0000000000c2' };
const now = '2026-11-25T12:00:00.000Z';
const nowMs = Date.parse(now);
const fresh = (who: { id: string }): HumanApprover => ({ type: 'human', id: who.id, mfaVerifiedAtMs: nowMs - 10 * 60_000 });
const commit: MergeCommitSpec = { authorName: 'Alice', authorEmail: 'a@x', committerName: 'Bastion', committerEmail: 'b@x', date: now, message: 'Merge' };
const policy = { requiredApprovals: 1, requirePassingTests: false };
const opened: MergeRequestOpened = {
  type: 'MergeRequestOpened',
  data: { mrId, repoId: 'r', orgId: 'o', sourceBranch: `agent/${agent.id}/feature`, headSha: head, title: 'Feature', description: '', openedBy: agent },
};
const approvedByAlice: MergeRequestApproved = { type: 'MergeRequestApproved', data: { mrId, headSha: head, approverId: alice.id, requiredApprovals: 1, commit } };
const spec = deciderSpec(mergeRequestDecider);
const approve = (approver: HumanApprover, headSha = head, p = policy) => ({ type: 'ApproveMergeRequest' as const, data: { headSha, approver, policy: p, commit, nowMs } });

describe('merge request approval', () => {
  it('a human with fresh MFA approves the current head of an agent’s merge request', () => {
    expect(spec.given([opened]).when(approve(fresh(alice))).events()).toEqual([approvedByAlice]);
  });

  it('an agent cannot approve, whatever reaches the decider', () => {
    const error = spec.given([opened]).when(approve({ ...fresh(alice), type: 'agent' } as unknown as HumanApprover)).error();
    expect(error).toBeInstanceOf(AgentCannotApproveError);
    expect(error).toMatchObject({ code: 'MR.AGENT_CANNOT_APPROVE' });
  });

  it('an approval of a head other than the current one is refused, and a push after approval voids it', () => {
    expect(spec.given([opened]).when(approve(fresh(alice), newer)).error()).toBeInstanceOf(StaleHeadApprovalError);
    const state = [opened, approvedByAlice, { type: 'MergeRequestHeadUpdated' as const, data: { mrId, headSha: newer, pushedBy: agent } }].reduce(
      mergeRequestDecider.evolve,
      mergeRequestDecider.initialState(),
    );
    expect(approvedMerge(state)).toBeNull();
  });

  it('whoever opened it or pushed to its branch cannot approve it (a human adding commits to an agent branch included)', () => {
    const openedByAlice = { ...opened, data: { ...opened.data, openedBy: alice } };
    expect(spec.given([openedByAlice]).when(approve(fresh(alice))).error()).toBeInstanceOf(SelfApprovalError);
    expect(spec
      .given([opened, { type: 'MergeRequestHeadUpdated', data: { mrId, headSha: newer, pushedBy: bob } }])
      .when(approve(fresh(bob), newer)).error()).toBeInstanceOf(SelfApprovalError);
  });

  it('an approval by the author or a pusher appended around decide (SQL in a request) never counts toward a merge', () => {
    const fold = (events: unknown[]) => (events as MergeRequestApproved[]).reduce(mergeRequestDecider.evolve, mergeRequestDecider.initialState());
    const openedByAlice = { ...opened, data: { ...opened.data, openedBy: alice } };
    expect(approvedMerge(fold([openedByAlice, approvedByAlice]))).toBeNull();
    const pushedByAlice = { type: 'MergeRequestHeadUpdated', data: { mrId, headSha: newer, pushedBy: alice } };
    const selfApproved = { ...approvedByAlice, data: { ...approvedByAlice.data, headSha: newer } };
    expect(approvedMerge(fold([opened, pushedByAlice, selfApproved]))).toBeNull();
    expect(approvedMerge(fold([opened, approvedByAlice]))).not.toBeNull();
  });

  it('an approval whose N is not a whole number from 1 to 10 never counts (NaN would pass every comparison)', () => {
    for (const requiredApprovals of [undefined, 'x', {}, [1, 2], 0, 1.5, 11, Number.NaN]) {
      const odd = { ...approvedByAlice, data: { ...approvedByAlice.data, requiredApprovals } } as unknown as MergeRequestApproved;
      const state = [opened, odd].reduce(mergeRequestDecider.evolve, mergeRequestDecider.initialState());
      expect(approvedMerge(state)).toBeNull();
    }
  });

  it('a second opening changes nothing: it cannot clear the pushers and approvals, nor reopen a merged request', () => {
    const merged = { type: 'MergeRequestMerged', data: { mrId, headSha: head, mergeCommit: 'c'.repeat(40), alreadyMerged: false } } as unknown as MergeRequestApproved;
    const reopened = { ...opened, data: { ...opened.data, openedBy: bob } } as unknown as MergeRequestApproved;
    const state = [opened, approvedByAlice, merged, reopened].reduce(mergeRequestDecider.evolve, mergeRequestDecider.initialState());
    expect(state).toMatchObject({ status: 'Merged', openedBy: agent });
  });

  it('a fold skips an event of a type a merge request never has, instead of throwing', () => {
    const foreign = { type: 'TaskMoved', data: { taskId: 't' } } as unknown as MergeRequestApproved;
    const state = [opened, foreign, approvedByAlice].reduce(mergeRequestDecider.evolve, mergeRequestDecider.initialState());
    expect(approvedMerge(state)).toMatchObject({ headSha: head });
  });

  it('an approval needs MFA verified within 15 minutes', () => {
    expect(spec.given([opened]).when(approve({ ...fresh(alice), mfaVerifiedAtMs: nowMs - 16 * 60_000 })).error()).toBeInstanceOf(MfaNotFreshError);
    expect(spec.given([opened]).when(approve({ ...fresh(alice), mfaVerifiedAtMs: null })).error()).toBeInstanceOf(MfaNotFreshError);
  });

  it('required test runs must have passed on the current head', () => {
    const strict = { requiredApprovals: 1, requirePassingTests: true };
    expect(spec.given([opened]).when(approve(fresh(alice), head, strict)).error()).toBeInstanceOf(RequiredTestsNotPassedError);
    expect(spec
      .given([
        opened,
        { type: 'TestRunRequested', data: { mrId, runId: 'r1', headSha: head, requestedBy: agent } },
        { type: 'TestRunCompleted', data: { mrId, runId: 'r1', headSha: head, passed: true, exitCode: 0, timedOut: false, durationMs: 1 } },
      ])
      .when(approve(fresh(alice), head, strict)).events()).toEqual([approvedByAlice]);
  });

  it('N approvals: one is not enough when two are required; N is never below 1', () => {
    const two = { requiredApprovals: 2, requirePassingTests: false };
    const first = { ...approvedByAlice, data: { ...approvedByAlice.data, requiredApprovals: 2 } };
    const state = [opened, first].reduce(mergeRequestDecider.evolve, mergeRequestDecider.initialState());
    expect(approvedMerge(state)).toBeNull();
    expect(spec.given([opened, first]).when(approve(fresh(alice), head, two)).error()).toBeInstanceOf(AlreadyApprovedError);
    const zero = [opened].reduce(mergeRequestDecider.evolve, mergeRequestDecider.initialState());
    expect(mergeRequestDecider.decide(approve(fresh(alice), head, { requiredApprovals: 0, requirePassingTests: false }), zero)[0]).toMatchObject({
      data: { requiredApprovals: 1 },
    });
  });

  it('a merge is recorded once; a second record decides nothing', () => {
    expect(spec
      .given([opened, approvedByAlice, { type: 'MergeRequestMerged', data: { mrId, headSha: head, mergeCommit: 'c'.repeat(40), alreadyMerged: false } }])
      .when({ type: 'RecordMerge', data: { headSha: head, mergeCommit: 'c'.repeat(40), alreadyMerged: true } }).events()).toEqual([]);
  });
});

describe('test runs', () => {
  const requested = { type: 'TestRunRequested' as const, data: { mrId, runId: 'run-1', headSha: head, requestedBy: agent } };
  const outcome = { runId: 'run-1', passed: true, exitCode: 0, timedOut: false, durationMs: 12 };

  it('a run is requested for the current head only; a stale head is refused', () => {
    expect(spec.given([opened]).when({ type: 'RequestTestRun', data: { runId: 'run-1', headSha: head, requestedBy: agent } }).events()).toEqual([requested]);
    const error = spec.given([opened]).when({ type: 'RequestTestRun', data: { runId: 'run-1', headSha: newer, requestedBy: agent } }).error();
    expect(error).toBeInstanceOf(StaleHeadTestRunError);
    expect(error).toMatchObject({ code: 'MR.TEST_RUN_STALE_HEAD' });
  });

  it('an outcome is recorded once, for the head the run was requested on; a second record decides nothing', () => {
    const moved = { type: 'MergeRequestHeadUpdated' as const, data: { mrId, headSha: newer, pushedBy: agent } };
    const completed = { type: 'TestRunCompleted' as const, data: { mrId, ...outcome, headSha: head } };
    expect(spec.given([opened, requested, moved]).when({ type: 'RecordTestRun', data: outcome }).events()).toEqual([completed]);
    expect(spec.given([opened, requested, completed]).when({ type: 'RecordTestRun', data: outcome }).events()).toEqual([]);
    expect(spec.given([opened]).when({ type: 'RecordTestRun', data: outcome }).error()).toBeInstanceOf(TestRunNotFoundError);
  });

  it('a passing run on an older head does not satisfy the policy after a push (a new push voids it)', () => {
    const strict = { requiredApprovals: 1, requirePassingTests: true };
    const passed = { type: 'TestRunCompleted' as const, data: { mrId, ...outcome, headSha: head } };
    const moved = { type: 'MergeRequestHeadUpdated' as const, data: { mrId, headSha: newer, pushedBy: agent } };
    expect(spec.given([opened, requested, passed, moved]).when(approve(fresh(alice), newer, strict)).error()).toBeInstanceOf(RequiredTestsNotPassedError);
    const failed = { type: 'TestRunCompleted' as const, data: { mrId, ...outcome, passed: false, exitCode: 1, headSha: head } };
    expect(spec.given([opened, requested, failed]).when(approve(fresh(alice), head, strict)).error()).toBeInstanceOf(RequiredTestsNotPassedError);
  });
});

describe('the org merge-request policy', () => {
  it('N is a whole number from 1: 0, negatives, fractions and strings are refused, never rounded', () => {
    expect(mergeRequestPolicy({ requiredApprovals: 2, requirePassingTests: true })).toEqual({ requiredApprovals: 2, requirePassingTests: true });
    for (const n of [0, -1, 0.5, 1.5, Number.NaN, '1', null, 11]) {
      expect(() => mergeRequestPolicy({ requiredApprovals: n, requirePassingTests: false })).toThrow(InvalidMergeRequestPolicyError);
    }
    expect(() => mergeRequestPolicy({ requiredApprovals: 1, requirePassingTests: 'yes' })).toThrow(InvalidMergeRequestPolicyError);
  });

  it('the merge worker’s re-check: a policy tightened after approval (N=2, or passing tests) no longer holds', () => {
    const state = [opened, approvedByAlice].reduce(mergeRequestDecider.evolve, mergeRequestDecider.initialState());
    expect(unmetMergeRules(state, policy)).toBeNull();
    expect(unmetMergeRules(state, { requiredApprovals: 2, requirePassingTests: false })).toBe('1 of 2 required human approvals of the current head');
    expect(unmetMergeRules(state, { requiredApprovals: 0, requirePassingTests: false })).toBeNull();
    expect(unmetMergeRules(state, { requiredApprovals: 1, requirePassingTests: true })).toBe('no passing test run on the current head');
  });
});
