import type { Permission } from './permissions';

/**
 * What agents may do (DESIGN §6). Agents hold no role: a fixed set of capabilities within the organisation that
 * owns them. Approving a merge request and every path to `main` are not among them, and no setting adds one.
 */
export const AGENT_CAPABILITIES = [
  'task:work_assigned', // view and update (edit, move) the tasks assigned to it
  'code:push_agent_branch', // push to agent/<agent-id>/* of repositories it is granted
  'mr:open', // open and update merge requests
  'test:request', // request test runs
  'llm:call', // call LLMs through the gateway
  'skill:request',
  'escalation:open',
] as const;
export type AgentCapability = (typeof AGENT_CAPABILITIES)[number];

/**
 * Who may cause each event type:
 * - `platform`: an authenticated human acting on their own account (sign-up, sessions, creating an org…), only
 *   through the narrow definer functions of the `authz` schema;
 * - `system`: only the worker, the projector or the database functions themselves;
 * - a permission: a human holding it in the event's organisation;
 * - `agent`: the capability that lets an agent cause it, or null.
 * The events table's insert policy reads this mapping (loaded by a migration; a test fails if the two differ, or if
 * a domain event type has no entry).
 */
export interface EventAuthority {
  readonly human: Permission | 'platform' | 'system';
  readonly agent: AgentCapability | null;
}

export const EVENT_AUTHORITY = {
  // identity (platform: via authz definer functions)
  UserSignedUp: { human: 'platform', agent: null },
  EmailVerified: { human: 'platform', agent: null },
  PasswordResetRequested: { human: 'platform', agent: null },
  PasswordReset: { human: 'platform', agent: null },
  PasswordChanged: { human: 'platform', agent: null },
  SessionStarted: { human: 'platform', agent: null },
  SessionRevoked: { human: 'platform', agent: null },
  RefreshTokenReuseDetected: { human: 'system', agent: null },
  SignInFailed: { human: 'platform', agent: null },
  SignInThrottled: { human: 'system', agent: null },
  // organisation and team
  OrganizationCreated: { human: 'platform', agent: null },
  OrganizationProvisioned: { human: 'system', agent: null },
  MemberAdded: { human: 'platform', agent: null },
  MemberInvited: { human: 'team:invite', agent: null },
  InvitationRevoked: { human: 'team:invite', agent: null },
  InvitationAccepted: { human: 'platform', agent: null },
  MemberRoleChanged: { human: 'team:manage', agent: null },
  MemberRemoved: { human: 'team:manage', agent: null },
  MemberLeft: { human: 'platform', agent: null },
  // MFA (platform: the user's own account, or an Admin's audited reset through a definer function)
  TotpEnrolled: { human: 'platform', agent: null },
  TotpDisabled: { human: 'platform', agent: null },
  StepUpVerified: { human: 'platform', agent: null },
  MfaVerificationFailed: { human: 'platform', agent: null },
  MfaLockedOut: { human: 'platform', agent: null },
  RecoveryCodeUsed: { human: 'platform', agent: null },
  MfaReset: { human: 'platform', agent: null },
  OrgSecuritySettingsChanged: { human: 'platform', agent: null },
  // code governance: approving and merging are out of every agent's reach
  RepositoryCreated: { human: 'platform', agent: null },
  AgentGrantedRepoAccess: { human: 'platform', agent: null },
  PushAccepted: { human: 'code:contribute', agent: 'code:push_agent_branch' },
  PushRefused: { human: 'code:contribute', agent: 'code:push_agent_branch' },
  MergeRequestOpened: { human: 'code:contribute', agent: 'mr:open' },
  MergeRequestHeadUpdated: { human: 'code:contribute', agent: 'code:push_agent_branch' },
  MergeRequestCommented: { human: 'mr:review', agent: 'mr:open' },
  TestRunRequested: { human: 'code:contribute', agent: 'test:request' },
  TestRunCompleted: { human: 'system', agent: null },
  MergeRequestApproved: { human: 'mr:approve', agent: null },
  MergeRequestMerged: { human: 'system', agent: null },
  MergeRequestMergeFailed: { human: 'system', agent: null },
  MergeRequestPolicyChanged: { human: 'platform', agent: null }, // org:security + step-up, via authz.set_code_policy
  // BYOK: the org's data key (never key material in the event)
  OrgKeyCreated: { human: 'platform', agent: null },
  OrgKeyRewrapped: { human: 'platform', agent: null },
  OrgKeyRevoked: { human: 'platform', agent: null },
  OrgKeyRestored: { human: 'platform', agent: null },
  // audit
  AuditExported: { human: 'audit:export', agent: null },
  AuditChainBroken: { human: 'system', agent: null },
  AuditExportCompleted: { human: 'system', agent: null },
  AuditExportFailed: { human: 'system', agent: null },
  // provider tenancy: granted only by the platform operator's CLI
  ProviderCreated: { human: 'system', agent: null },
  PersonErased: { human: 'system', agent: null },
  ProviderAdminGranted: { human: 'system', agent: null },
  ProviderAdminRevoked: { human: 'system', agent: null },
  OrganizationAttachedToProvider: { human: 'system', agent: null },
  // agents
  AgentCreated: { human: 'agent:create', agent: null },
  AgentKeyIssued: { human: 'agent:credentials', agent: null },
  AgentKeyRevoked: { human: 'agent:credentials', agent: null },
  // tasks
  TaskCreated: { human: 'task:create', agent: null },
  TaskUpdated: { human: 'task:update', agent: 'task:work_assigned' },
  TaskAssigned: { human: 'task:update', agent: null },
  TaskMoved: { human: 'task:update', agent: 'task:work_assigned' },
  TaskCancelled: { human: 'task:update', agent: null },
} as const satisfies Record<string, EventAuthority>;

export type KnownEventType = keyof typeof EVENT_AUTHORITY;
export const KNOWN_EVENT_TYPES = Object.keys(EVENT_AUTHORITY) as KnownEventType[];
