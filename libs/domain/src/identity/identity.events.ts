import type { DomainEvent } from '../shared/event';

/**
 * Identity facts. None carries a credential: no password, hash, token, key or key hash (DESIGN §3). Personal data
 * (an email, a display name, and the IP address and user agent in metadata) enters an event only sealed with its
 * person's key, as a `pd1:<subject>:<token>` string, so erasing the person's key erases it from the log
 * (crypto-shredding; libs/infra/src/crypto/person-keys). Events stored before that carry plaintext.
 */
/** `email` and `displayName`: personal tokens, sealed for `userId` (fields `user.email`, `user.displayName`). */
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
/**
 * `emailHash`: the named email's erasable pseudonym — its person subject `e-<uuid>`, random, linked to the address
 * only in the mutable key table — so attempts on one address correlate without naming it, and erasing the person
 * unlinks them. (Events stored before migration 0018 hold a bare SHA-256 of the normalised email here.)
 */
export type SignInFailed = DomainEvent<
  'SignInFailed',
  { userId: string | null; emailHash: string; reason: 'bad_credentials' | 'locked' | 'disabled' }
>;
export type SignInThrottled = DomainEvent<
  'SignInThrottled',
  { userId: string | null; emailHash: string; scope: 'account' | 'ip'; refusedAttempts: number; windowSeconds: number }
>;
/**
 * A person's keys were deleted by the operator (crypto-shredding): everything sealed for them is unreadable from
 * now on. Carries no personal data: the account id (null for an email without an account) and a count.
 */
export type PersonErased = DomainEvent<'PersonErased', { userId: string | null; keysDeleted: number }>;
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
  | PersonErased
  | MemberAdded
  | AgentCreated
  | AgentKeyIssued
  | AgentKeyRevoked;
