import type { Actor, DomainEvent } from '../shared/event';

export interface RefUpdate {
  readonly ref: string;
  readonly oldSha: string;
  readonly newSha: string;
}

/** Author and committer of the merge commit, fixed at approval so a retried merge builds the same commit. */
export interface MergeCommitSpec {
  readonly authorName: string;
  readonly authorEmail: string;
  readonly committerName: string;
  readonly committerEmail: string;
  readonly date: string;
  readonly message: string;
}

export type RepositoryCreated = DomainEvent<'RepositoryCreated', { repoId: string; orgId: string; name: string; defaultBranch: 'main'; initialCommit: string }>;
export type AgentGrantedRepoAccess = DomainEvent<'AgentGrantedRepoAccess', { repoId: string; agentId: string }>;
export type PushAccepted = DomainEvent<'PushAccepted', { repoId: string; updates: RefUpdate[] }>;
export type PushRefused = DomainEvent<'PushRefused', { repoId: string; updates: RefUpdate[]; reason: string }>;

export type MergeRequestOpened = DomainEvent<
  'MergeRequestOpened',
  { mrId: string; repoId: string; orgId: string; sourceBranch: string; headSha: string; title: string; description: string; openedBy: Actor }
>;
export type MergeRequestHeadUpdated = DomainEvent<'MergeRequestHeadUpdated', { mrId: string; headSha: string; pushedBy: Actor }>;
export type MergeRequestCommented = DomainEvent<'MergeRequestCommented', { mrId: string; body: string; changesRequested: boolean }>;
export type TestRunRequested = DomainEvent<'TestRunRequested', { mrId: string; runId: string; headSha: string; requestedBy: Actor }>;
/**
 * The outcome of a sandboxed run. No output: it is text the tested code chose (it could echo anything the
 * repository holds), and events are immutable. `invalidConfig` marks a head whose `.bastion/ci.json` is missing or
 * malformed, so nothing ran.
 */
export type TestRunCompleted = DomainEvent<
  'TestRunCompleted',
  { mrId: string; runId: string; headSha: string; passed: boolean; exitCode: number | null; timedOut: boolean; durationMs: number; invalidConfig?: boolean }
>;
/** The design card's "HumanApproved": only a human principal, on the current head, with fresh MFA. */
export type MergeRequestApproved = DomainEvent<
  'MergeRequestApproved',
  { mrId: string; headSha: string; approverId: string; requiredApprovals: number; commit: MergeCommitSpec }
>;
export type MergeRequestMerged = DomainEvent<'MergeRequestMerged', { mrId: string; headSha: string; mergeCommit: string; alreadyMerged: boolean }>;
export type MergeRequestMergeFailed = DomainEvent<
  'MergeRequestMergeFailed',
  { mrId: string; headSha: string; reason: 'conflict' | 'main-moved' | 'rules-no-longer-hold' | 'stale-head'; detail: string }
>;

/** An organisation's merge-request policy (DESIGN §7): N ≥ 1 human approvals, and optionally a passing run. */
export type MergeRequestPolicyChanged = DomainEvent<'MergeRequestPolicyChanged', { orgId: string; requiredApprovals: number; requirePassingTests: boolean }>;

export type MergeRequestEvent =
  | MergeRequestOpened
  | MergeRequestHeadUpdated
  | MergeRequestCommented
  | TestRunRequested
  | TestRunCompleted
  | MergeRequestApproved
  | MergeRequestMerged
  | MergeRequestMergeFailed;
