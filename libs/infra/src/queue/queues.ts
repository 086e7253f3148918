/**
 * Queue names and job payloads. Payloads carry ids only — never a secret, a token or plaintext of an encrypted
 * field (DESIGN §10) — and every job id is derived from the event that caused it, so a re-enqueue is a no-op.
 */
export const QUEUES = {
  organizationProvisioning: 'organization-provisioning',
} as const;

export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

export interface ProvisionOrganizationJob {
  readonly orgId: string;
  /** The `OrganizationCreated` event that caused the job. */
  readonly causationEventId: string;
  readonly correlationId: string;
}

export interface JobPayloads {
  'organization-provisioning': ProvisionOrganizationJob;
}

/** BullMQ refuses ':' in custom ids; ours are `<kind>-<event uuid>`. */
export function jobIdFor(kind: string, eventId: string): string {
  return `${kind}-${eventId}`;
}

export function bullPrefix(redisPrefix: string): string {
  return `${redisPrefix}:bull`;
}
