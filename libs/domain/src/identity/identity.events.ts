import type { DomainEvent } from '../shared/event';

/**
 * Identity facts. None carries a credential: no password, hash, token, key or key hash (DESIGN §3). Emails in
 * events are personal data, to be encrypted with a per-user key when BYOK lands (crypto-shredding).
 */
export type UserSignedUp = DomainEvent<'UserSignedUp', { userId: string; email: string; displayName: string }>;
export type EmailVerified = DomainEvent<'EmailVerified', { userId: string }>;
export type PasswordResetRequested = DomainEvent<'PasswordResetRequested', { userId: string }>;
export type PasswordReset = DomainEvent<'PasswordReset', { userId: string; revokedSessions: number }>;
export type PasswordChanged = DomainEvent<'PasswordChanged', { userId: string; revokedSessions: number }>;
export type SessionStarted = DomainEvent<
  'SessionStarted',
  { sessionId: string; principalType: 'human' | 'agent'; principalId: string; method: 'password' | 'agent_key'; amr: string[]; keyId?: string }
>;
export type SessionRevoked = DomainEvent<'SessionRevoked', { sessionId: string; reason: string }>;
export type RefreshTokenReuseDetected = DomainEvent<
  'RefreshTokenReuseDetected',
  { sessionId: string; presentedCounter: number; currentCounter: number }
>;
/** `emailHash`: SHA-256 of the normalised email, so attempts on one address correlate without naming it. */
export type SignInFailed = DomainEvent<
  'SignInFailed',
  { userId: string | null; emailHash: string; reason: 'bad_credentials' | 'locked' | 'disabled' }
>;
export type SignInThrottled = DomainEvent<
  'SignInThrottled',
  { userId: string | null; emailHash: string; scope: 'account' | 'ip'; refusedAttempts: number; windowSeconds: number }
>;
export type MemberAdded = DomainEvent<'MemberAdded', { orgId: string; userId: string; role: 'viewer' | 'member' | 'admin' }>;
export type AgentCreated = DomainEvent<'AgentCreated', { agentId: string; orgId: string; name: string }>;
export type AgentKeyIssued = DomainEvent<
  'AgentKeyIssued',
  { agentId: string; orgId: string; keyId: string; prefix: string; expiresAt: string }
>;
export type AgentKeyRevoked = DomainEvent<'AgentKeyRevoked', { agentId: string; orgId: string; keyId: string }>;

export type IdentityEvent =
  | UserSignedUp
  | EmailVerified
  | PasswordResetRequested
  | PasswordReset
  | PasswordChanged
  | SessionStarted
  | SessionRevoked
  | RefreshTokenReuseDetected
  | SignInFailed
  | SignInThrottled
  | MemberAdded
  | AgentCreated
  | AgentKeyIssued
  | AgentKeyRevoked;
