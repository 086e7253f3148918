/**
 * Queue names and job payloads. Payloads carry ids only — never a secret, a token or plaintext of an encrypted
 * field (DESIGN §10) — and every job id is derived from the event that caused it, so a re-enqueue is a no-op.
 */
export const QUEUES = {
  organizationProvisioning: 'organization-provisioning',
  signInThrottleReports: 'sign-in-throttle-reports',
  merges: 'merges',
  testRuns: 'test-runs',
  auditExports: 'audit-exports',
} as const;

export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

export interface ProvisionOrganizationJob {
  readonly orgId: string;
  /** The `OrganizationCreated` event that caused the job. */
  readonly causationEventId: string;
  readonly correlationId: string;
}

/**
 * Records one `SignInThrottled` for a burst of refused sign-ins once the lock or window ends. Carries the account's
 * email hash or the client IP (personal data, not a secret) — never the email, a password or a token.
 */
export interface SignInThrottleReportJob {
  readonly scope: 'account' | 'ip';
  readonly subject: string;
  readonly userId: string | null;
  readonly emailHash: string;
  readonly windowSeconds: number;
  readonly correlationId: string;
}

/** Merge the approved head of a merge request. Ids only: the worker re-reads the stream and re-checks every rule. */
export interface MergeJob {
  readonly orgId: string;
  readonly repoId: string;
  readonly mrId: string;
  readonly headSha: string;
  readonly causationEventId: string;
  readonly correlationId: string;
}

/**
 * Write the audit export requested by an `AuditExported` event to a file. Ids only: the worker re-reads the
 * `audit-export-<id>` stream for the format and the sealed range, and does nothing if the export is already recorded.
 */
export interface AuditExportJob {
  readonly orgId: string;
  readonly exportId: string;
  /** The `AuditExported` event that requested it. */
  readonly causationEventId: string;
  readonly correlationId: string;
}

/** Run a requested test run in the sandbox. Ids only: the worker reads the head from the stream, the command from the repository. */
export interface TestRunJob {
  readonly orgId: string;
  readonly repoId: string;
  readonly mrId: string;
  readonly runId: string;
  /** The `TestRunRequested` event that caused the job. */
  readonly causationEventId: string;
  readonly correlationId: string;
}

export interface JobPayloads {
  'test-runs': TestRunJob;
  'audit-exports': AuditExportJob;
  merges: MergeJob;
  'organization-provisioning': ProvisionOrganizationJob;
  'sign-in-throttle-reports': SignInThrottleReportJob;
}

/** BullMQ refuses ':' in custom ids; ours are `<kind>-<event uuid>`. */
export function jobIdFor(kind: string, eventId: string): string {
  return `${kind}-${eventId}`;
}

export function bullPrefix(redisPrefix: string): string {
  return `${redisPrefix}:bull`;
}
