import type { DomainEvent, NewEvent } from '@bastion/domain';
import type { KmsProvider } from '../kms';

/**
 * Facts about an organisation's data key, appended to its `org-<id>` stream by the definer functions of
 * migrations/0011_org-keys.sql. They carry references and providers, never key material: the functions refuse an
 * event whose data is anything but exactly these fields with the values they hold.
 *
 * (They belong in libs/domain with the other event types and in EVENT_AUTHORITY as `platform`; kept here until
 * that file is free to change.)
 */
export type OrgKeyCreated = DomainEvent<'OrgKeyCreated', { orgId: string; version: number; keyRef: string; provider: KmsProvider }>;
export type OrgKeyRewrapped = DomainEvent<
  'OrgKeyRewrapped',
  { orgId: string; version: number; keyRef: string; provider: KmsProvider; previousKeyRef: string; previousProvider: KmsProvider }
>;
export type OrgKeyRevoked = DomainEvent<'OrgKeyRevoked', { orgId: string }>;
export type OrgKeyRestored = DomainEvent<'OrgKeyRestored', { orgId: string }>;

export type OrgKeyEvent = OrgKeyCreated | OrgKeyRewrapped | OrgKeyRevoked | OrgKeyRestored;
export type OrgKeyEventType = OrgKeyEvent['type'];

export const ORG_KEY_EVENT_TYPES: readonly OrgKeyEventType[] = ['OrgKeyCreated', 'OrgKeyRewrapped', 'OrgKeyRevoked', 'OrgKeyRestored'];

/**
 * Turns one of these events into an appendable one with the caller's command context (actor, session, request…),
 * e.g. in a controller: `(event) => toNewEvents([event], commandContext(req, { orgId }))[0]!`.
 */
export type StampOrgKeyEvent = <E extends OrgKeyEvent>(event: E) => NewEvent<E>;
