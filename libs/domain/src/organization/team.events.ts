import type { DomainEvent } from '../shared/event';
import type { OrgRole } from '../authorization/permissions';

export type MemberInvited = DomainEvent<
  'MemberInvited',
  { orgId: string; invitationId: string; email: string; role: OrgRole; expiresAt: string }
>;
export type InvitationRevoked = DomainEvent<'InvitationRevoked', { orgId: string; invitationId: string }>;
/** `orgId` and `invitationId` are filled in by the database from the token's invitation. */
export type InvitationAccepted = DomainEvent<'InvitationAccepted', { orgId: string; invitationId: string; userId: string }>;
export type MemberRoleChanged = DomainEvent<'MemberRoleChanged', { orgId: string; userId: string; from: OrgRole | null; to: OrgRole }>;
export type MemberRemoved = DomainEvent<'MemberRemoved', { orgId: string; userId: string }>;
export type MemberLeft = DomainEvent<'MemberLeft', { orgId: string; userId: string }>;

export type TeamEvent = MemberInvited | InvitationRevoked | InvitationAccepted | MemberRoleChanged | MemberRemoved | MemberLeft;
