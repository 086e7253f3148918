import type { Decider } from '../shared/decider';
import { assertNever } from '../shared/errors';
import type { Actor } from '../shared/event';
import type { MergeCommitSpec, MergeRequestEvent } from './code.events';
import {
  AgentCannotApproveError,
  AlreadyApprovedError,
  InvalidMergeRequestError,
  MergeRequestClosedError,
  MergeRequestNotFoundError,
  InvalidMergeRequestPolicyError,
  MfaNotFreshError,
  RequiredTestsNotPassedError,
  SelfApprovalError,
  StaleHeadApprovalError,
  StaleHeadTestRunError,
  TestRunNotFoundError,
} from './merge-request.errors';

/** A human approver, as the human-session path constructs it: the literal type is the point. */
export interface HumanApprover {
  readonly type: 'human';
  readonly id: string;
  /** When the approving session last verified MFA, epoch ms (from the session row, not a token claim). */
  readonly mfaVerifiedAtMs: number | null;
}

export interface CodePolicy {
  /** N ≥ 1; nothing makes it 0. */
  readonly requiredApprovals: number;
  readonly requirePassingTests: boolean;
}

export const MAX_REQUIRED_APPROVALS = 10;

/**
 * The only way to build an org's merge-request policy from input: N is a whole number from 1 to 10 — 0 is refused,
 * never rounded up — and the policy has exactly these two fields. There is no field that lets an agent approve or
 * merge, and none that skips approval (test/architecture guards that none appears).
 */
export function mergeRequestPolicy(input: { requiredApprovals: unknown; requirePassingTests: unknown }): CodePolicy {
  const n = input.requiredApprovals;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_REQUIRED_APPROVALS) {
    throw new InvalidMergeRequestPolicyError(`requiredApprovals must be a whole number from 1 to ${MAX_REQUIRED_APPROVALS}`);
  }
  if (typeof input.requirePassingTests !== 'boolean') throw new InvalidMergeRequestPolicyError('requirePassingTests must be true or false');
  return { requiredApprovals: n, requirePassingTests: input.requirePassingTests };
}

export type OpenMergeRequest = {
  type: 'OpenMergeRequest';
  data: { mrId: string; repoId: string; orgId: string; sourceBranch: string; headSha: string; title: string; description: string; openedBy: Actor };
};
export type UpdateHead = { type: 'UpdateHead'; data: { headSha: string; pushedBy: Actor } };
export type CommentOnMergeRequest = { type: 'CommentOnMergeRequest'; data: { body: string; changesRequested: boolean }; actor: Actor };
/** A run is for the head the caller saw: a head that moved since is refused, not silently tested instead. */
export type RequestTestRun = { type: 'RequestTestRun'; data: { runId: string; headSha: string; requestedBy: Actor } };
export type RecordTestRun = {
  type: 'RecordTestRun';
  data: { runId: string; passed: boolean; exitCode: number | null; timedOut: boolean; durationMs: number; invalidConfig?: boolean };
};
export type ApproveMergeRequest = {
  type: 'ApproveMergeRequest';
  data: { headSha: string; approver: HumanApprover; policy: CodePolicy; commit: MergeCommitSpec; nowMs: number };
};
export type RecordMerge = { type: 'RecordMerge'; data: { headSha: string; mergeCommit: string; alreadyMerged: boolean } };
export type RecordMergeFailure = { type: 'RecordMergeFailure'; data: { headSha: string; reason: 'conflict' | 'main-moved' | 'rules-no-longer-hold' | 'stale-head'; detail: string } };

export type MergeRequestCommand =
  | OpenMergeRequest
  | UpdateHead
  | CommentOnMergeRequest
  | RequestTestRun
  | RecordTestRun
  | ApproveMergeRequest
  | RecordMerge
  | RecordMergeFailure;

export type MergeRequestState =
  | { status: 'Empty' }
  | {
      status: 'Open' | 'Merged';
      mrId: string;
      repoId: string;
      orgId: string;
      sourceBranch: string;
      headSha: string;
      openedBy: Actor;
      /** Everyone who put commits on the source branch through this merge request. */
      pushers: Actor[];
      /** Approvals of the current head only: a new head voids the old ones. */
      approvals: { approverId: string; headSha: string; commit: MergeCommitSpec; requiredApprovals: number }[];
      /** Heads with at least one passing run. */
      passedRuns: string[];
      /** Every requested run, by id: the head it is for and whether its outcome is recorded. */
      runs: Record<string, { headSha: string; completed: boolean }>;
    };

export const MFA_FRESH_MS = 15 * 60 * 1000;
const SHA = /^[0-9a-f]{40}$/;

const sameActor = (a: Actor, b: { type: string; id: string }) => a.type === b.type && a.id === b.id;

function current(state: MergeRequestState) {
  if (state.status === 'Empty') throw new MergeRequestNotFoundError();
  return state;
}

function open(state: MergeRequestState) {
  const s = current(state);
  if (s.status === 'Merged') throw new MergeRequestClosedError();
  return s;
}

function approve(command: ApproveMergeRequest, state: MergeRequestState): MergeRequestEvent[] {
  const s = open(state);
  const { approver, headSha, policy, nowMs } = command.data;
  // The type says human; the runtime check is for anything that reached here around the type system.
  if ((approver as { type: string }).type !== 'human') throw new AgentCannotApproveError();
  if (headSha !== s.headSha) throw new StaleHeadApprovalError();
  if (sameActor(s.openedBy, approver) || s.pushers.some((p) => sameActor(p, approver))) throw new SelfApprovalError();
  if (approver.mfaVerifiedAtMs === null || !(nowMs - approver.mfaVerifiedAtMs <= MFA_FRESH_MS)) throw new MfaNotFreshError();
  if (policy.requirePassingTests && !s.passedRuns.includes(s.headSha)) throw new RequiredTestsNotPassedError();
  if (s.approvals.some((a) => a.approverId === approver.id && a.headSha === s.headSha)) throw new AlreadyApprovedError();
  const required = Math.max(1, Math.floor(policy.requiredApprovals));
  return [{ type: 'MergeRequestApproved', data: { mrId: s.mrId, headSha, approverId: approver.id, requiredApprovals: required, commit: command.data.commit } }];
}

/**
 * What the org's current policy still asks of the approved head, or null when every rule holds: the merge worker
 * re-checks this (the policy may have been tightened since the approval).
 */
export function unmetMergeRules(state: MergeRequestState, policy: CodePolicy): string | null {
  if (state.status !== 'Open') return 'the merge request is not open';
  const ofHead = state.approvals.filter((a) => a.headSha === state.headSha);
  const approvers = new Set(ofHead.map((a) => a.approverId));
  const required = Math.max(1, Math.floor(policy.requiredApprovals), ...ofHead.map((a) => a.requiredApprovals));
  if (approvers.size < required) return `${approvers.size} of ${required} required human approvals of the current head`;
  if (policy.requirePassingTests && !state.passedRuns.includes(state.headSha)) return 'no passing test run on the current head';
  return null;
}

/** The merge a worker may perform now, if any: enough human approvals of the current head. */
export function approvedMerge(state: MergeRequestState): { headSha: string; commit: MergeCommitSpec } | null {
  if (state.status !== 'Open') return null;
  const ofHead = state.approvals.filter((a) => a.headSha === state.headSha);
  if (ofHead.length === 0) return null;
  const required = Math.max(1, ...ofHead.map((a) => a.requiredApprovals));
  if (new Set(ofHead.map((a) => a.approverId)).size < required) return null;
  // The first approval fixes the commit's author, committer, date and message: every retry builds the same commit.
  return { headSha: state.headSha, commit: ofHead[0]!.commit };
}

export const mergeRequestDecider: Decider<MergeRequestCommand, MergeRequestEvent, MergeRequestState> = {
  initialState: () => ({ status: 'Empty' }),
  decide(command, state) {
    switch (command.type) {
      case 'OpenMergeRequest': {
        if (state.status !== 'Empty') throw new InvalidMergeRequestError('it already exists');
        const d = command.data;
        if (!SHA.test(d.headSha)) throw new InvalidMergeRequestError('the head is not a commit id');
        if (d.sourceBranch === 'main' || !/^[A-Za-z0-9._/-]{1,200}$/.test(d.sourceBranch)) throw new InvalidMergeRequestError('the source branch is not a mergeable branch');
        if (d.title.trim().length === 0 || d.title.length > 200) throw new InvalidMergeRequestError('the title must have 1 to 200 characters');
        return [{ type: 'MergeRequestOpened', data: { ...d, title: d.title.trim() } }];
      }
      case 'UpdateHead': {
        const s = open(state);
        if (command.data.headSha === s.headSha) return [];
        return [{ type: 'MergeRequestHeadUpdated', data: { mrId: s.mrId, headSha: command.data.headSha, pushedBy: command.data.pushedBy } }];
      }
      case 'CommentOnMergeRequest': {
        const s = open(state);
        if (command.data.body.trim().length === 0 || command.data.body.length > 20_000) throw new InvalidMergeRequestError('a comment has 1 to 20,000 characters');
        if (command.data.changesRequested && command.actor.type !== 'human') throw new InvalidMergeRequestError('only a human reviewer requests changes');
        return [{ type: 'MergeRequestCommented', data: { mrId: s.mrId, body: command.data.body, changesRequested: command.data.changesRequested } }];
      }
      case 'RequestTestRun': {
        const s = open(state);
        if (command.data.headSha !== s.headSha) throw new StaleHeadTestRunError();
        if (s.runs[command.data.runId]) throw new InvalidMergeRequestError('the test run already exists');
        return [{ type: 'TestRunRequested', data: { mrId: s.mrId, runId: command.data.runId, headSha: s.headSha, requestedBy: command.data.requestedBy } }];
      }
      case 'RecordTestRun': {
        // Recorded even after a merge or a push: it is the outcome for the head the run was requested on.
        const s = current(state);
        const run = s.runs[command.data.runId];
        if (!run) throw new TestRunNotFoundError();
        if (run.completed) return []; // a retried job records nothing twice
        const { invalidConfig, ...outcome } = command.data;
        return [{ type: 'TestRunCompleted', data: { mrId: s.mrId, ...outcome, headSha: run.headSha, ...(invalidConfig ? { invalidConfig: true } : {}) } }];
      }
      case 'ApproveMergeRequest':
        return approve(command, state);
      case 'RecordMerge': {
        const s = current(state);
        if (s.status === 'Merged') return [];
        return [{ type: 'MergeRequestMerged', data: { mrId: s.mrId, ...command.data } }];
      }
      case 'RecordMergeFailure': {
        const s = current(state);
        if (s.status === 'Merged') return [];
        return [{ type: 'MergeRequestMergeFailed', data: { mrId: s.mrId, ...command.data } }];
      }
      default:
        return assertNever(command);
    }
  },
  evolve(state, event) {
    switch (event.type) {
      case 'MergeRequestOpened':
        // Once: a second opening (appended around decide) would reset the pushers and approvals, or reopen a merge.
        if (state.status !== 'Empty') return state;
        return {
          status: 'Open',
          mrId: event.data.mrId,
          repoId: event.data.repoId,
          orgId: event.data.orgId,
          sourceBranch: event.data.sourceBranch,
          headSha: event.data.headSha,
          openedBy: event.data.openedBy,
          pushers: [event.data.openedBy],
          approvals: [],
          passedRuns: [],
          runs: {},
        };
      case 'MergeRequestHeadUpdated':
        if (state.status === 'Empty') return state;
        return {
          ...state,
          headSha: event.data.headSha,
          pushers: state.pushers.some((p) => sameActor(p, event.data.pushedBy)) ? state.pushers : [...state.pushers, event.data.pushedBy],
          approvals: [],
        };
      case 'MergeRequestApproved': {
        if (state.status === 'Empty') return state;
        // `decide` refuses the author's and a pusher's approval; one appended around it (SQL in a request) never counts.
        const approver = { type: 'human', id: event.data.approverId };
        if (sameActor(state.openedBy, approver) || state.pushers.some((p) => sameActor(p, approver))) return state;
        // An N that is not a whole number from 1 to the maximum (NaN would pass every comparison) never counts.
        const n = event.data.requiredApprovals;
        if (!Number.isInteger(n) || n < 1 || n > MAX_REQUIRED_APPROVALS) return state;
        return { ...state, approvals: [...state.approvals, { approverId: event.data.approverId, headSha: event.data.headSha, commit: event.data.commit, requiredApprovals: event.data.requiredApprovals }] };
      }
      case 'TestRunRequested':
        if (state.status === 'Empty') return state;
        return { ...state, runs: { ...state.runs, [event.data.runId]: { headSha: event.data.headSha, completed: false } } };
      case 'TestRunCompleted': {
        if (state.status === 'Empty') return state;
        const runs = { ...state.runs, [event.data.runId]: { headSha: event.data.headSha, completed: true } };
        if (!event.data.passed || state.passedRuns.includes(event.data.headSha)) return { ...state, runs };
        return { ...state, runs, passedRuns: [...state.passedRuns, event.data.headSha] };
      }
      case 'MergeRequestMerged':
        return state.status === 'Empty' ? state : { ...state, status: 'Merged' };
      case 'MergeRequestCommented':
      case 'MergeRequestMergeFailed':
        return state;
      default:
        return ignoredInFold(event, state);
    }
  },
};

/**
 * Exhaustive at compile time (`never`); at run time a merge request's stream holds another type only if it was
 * appended around the decider (SQL in a request, which the events table allows in the principal's own org), and
 * folding ignores it rather than stop every reader of the stream: the merge saga serves every organisation.
 */
function ignoredInFold(_event: never, state: MergeRequestState): MergeRequestState {
  return state;
}
