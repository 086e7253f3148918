import type { AuditExportFileFormat } from './export-stream';

/**
 * An export written to a file by the `audit-exports` job lives in its own stream, `audit-export-<export id>`, in the
 * organisation: `AuditExported` (the request, by a human holding audit:export, with the sealed range fixed at that
 * moment), then `AuditExportCompleted` or `AuditExportFailed` (the worker, as the system). Its status is that stream.
 */

export function auditExportStreamId(exportId: string): string {
  return `audit-export-${exportId}`;
}

export function auditExportJobId(exportId: string): string {
  return `audit-export-${exportId}`;
}

/** `AuditExported` of a file export: the parameters and the chain counts fixed when it was requested. */
export interface AuditExportRequestedData {
  readonly orgId: string;
  readonly exportId: string;
  readonly delivery: 'file';
  readonly format: AuditExportFileFormat;
  readonly from: string | null;
  readonly to: string | null;
  readonly fromCount: number | null;
  readonly toCount: number | null;
}

export interface AuditExportCompletedData {
  readonly orgId: string;
  readonly exportId: string;
  readonly format: AuditExportFileFormat;
  readonly events: number;
  readonly bytes: number;
  /** The final checkpoint the sealer signed; null when it refused (the trail no longer matches its chain). */
  readonly finalCheckpoint: { readonly count: number; readonly head: string; readonly keyId: string } | null;
  readonly problem: string | null;
}

export interface AuditExportFailedData {
  readonly orgId: string;
  readonly exportId: string;
  /** The error's class or code only: never a message that could carry data. */
  readonly reason: string;
}

export type AuditExportStatus =
  | { readonly status: 'unknown' }
  | { readonly status: 'pending'; readonly request: AuditExportRequestedData; readonly requestedAt: string }
  | { readonly status: 'completed'; readonly request: AuditExportRequestedData; readonly requestedAt: string; readonly completedAt: string; readonly result: AuditExportCompletedData }
  | { readonly status: 'failed'; readonly request: AuditExportRequestedData; readonly requestedAt: string; readonly completedAt: string; readonly failure: AuditExportFailedData };

/** The status an export's stream shows; events of another organisation or shape leave it unknown. */
export function auditExportStatus(orgId: string, events: readonly { type: string; data: unknown; occurredAt: string }[]): AuditExportStatus {
  const [first, ...rest] = events;
  const request = first?.data as AuditExportRequestedData | undefined;
  if (!first || first.type !== 'AuditExported' || request?.delivery !== 'file' || request.orgId !== orgId) return { status: 'unknown' };
  const base = { request, requestedAt: first.occurredAt };
  for (const event of rest) {
    if (event.type === 'AuditExportCompleted') return { status: 'completed', ...base, completedAt: event.occurredAt, result: event.data as AuditExportCompletedData };
    if (event.type === 'AuditExportFailed') return { status: 'failed', ...base, completedAt: event.occurredAt, failure: event.data as AuditExportFailedData };
  }
  return { status: 'pending', ...base };
}
