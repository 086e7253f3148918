import type { DomainEvent } from '../shared/event';

export type OrganizationCreated = DomainEvent<
  'OrganizationCreated',
  { orgId: string; name: string; createdBy: string; providerId: string | null }
>;

/** Appended by the worker once the organisation's platform resources exist. */
export type OrganizationProvisioned = DomainEvent<'OrganizationProvisioned', { orgId: string }>;

export type OrganizationEvent = OrganizationCreated | OrganizationProvisioned;

export const ORGANIZATION_EVENT_TYPES = ['OrganizationCreated', 'OrganizationProvisioned'] as const satisfies readonly OrganizationEvent['type'][];
