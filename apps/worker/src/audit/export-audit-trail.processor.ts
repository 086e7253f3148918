import { toNewEvents } from '@bastion/domain';
import { jobContext } from '../job-context';
import {
  type AuditExportCompletedData,
  type AuditExportFailedData,
  type AuditExportReader,
  type AuditExportSummary,
  type AuditSigningClient,
  auditExportChunks,
  auditExportFilePath,
  auditExportRangeOfCounts,
  auditExportStatus,
  auditExportStreamId,
  chainOf,
  writeAuditExportFile,
} from '@bastion/infra/audit';
import { inTransaction } from '@bastion/infra/database/transaction';
import { type EventStore, WrongExpectedRevisionError } from '@bastion/infra/event-store/event-store.port';
import type { AuditExportJob } from '@bastion/infra/queue/queues';
import type { Pool } from 'pg';

export interface AuditExportDependencies {
  readonly store: EventStore;
  /** The worker's own role: it reads the chain links, checkpoints and events of the export's organisation. */
  readonly pool: Pool;
  /** The sealer signs the final checkpoint; the worker never loads the audit key. */
  readonly signing: AuditSigningClient;
  /** AUDIT_EXPORTS_DIR, resolved. */
  readonly dir: string;
  readonly clock?: () => Date;
}

export type AuditExportOutcome = 'written' | 'already-recorded' | 'no-such-export';

/**
 * Writes the export an `AuditExported` request asked for to `<dir>/<org>/<export>.<format>` — the same code as the
 * streamed GET export, over the sealed range fixed at the request — and records `AuditExportCompleted`. Idempotent:
 * it re-reads the export's stream and does nothing once an outcome is recorded; a retry rewrites the file (under a
 * temporary name, renamed when complete) and appends at the revision it read, so two runs never record twice. On
 * the last attempt a failure is recorded as `AuditExportFailed`, with the error's class, never its message.
 */
export async function exportAuditTrail(deps: AuditExportDependencies, job: AuditExportJob, attempt: { final: boolean }): Promise<AuditExportOutcome> {
  const clock = deps.clock ?? (() => new Date());
  const stream = auditExportStreamId(job.exportId);
  const history = await deps.store.readStream(stream);
  const status = auditExportStatus(
    job.orgId,
    history.map((e) => ({ type: e.type, data: e.data, occurredAt: String(e.metadata.occurredAt) })),
  );
  if (status.status === 'unknown') return 'no-such-export';
  if (status.status !== 'pending') return 'already-recorded';
  const { request } = status;
  const record = async (type: 'AuditExportCompleted' | 'AuditExportFailed', data: AuditExportCompletedData | AuditExportFailedData) => {
    const events = toNewEvents([{ type, data: { ...data } }], jobContext(job, clock()));
    try {
      await deps.store.append(stream, events, history.length - 1);
      return 'written' as const;
    } catch (error) {
      if (error instanceof WrongExpectedRevisionError) return 'already-recorded' as const;
      throw error;
    }
  };
  try {
    const read: AuditExportReader = (work) => inTransaction(deps.pool, work);
    const range = await read((tx) => auditExportRangeOfCounts(tx, chainOf(job.orgId), request.fromCount, request.toCount));
    const summary: AuditExportSummary = { events: 0, finalCheckpoint: null, problem: null };
    const path = auditExportFilePath(deps.dir, job.orgId, job.exportId, request.format);
    const { bytes } = await writeAuditExportFile(
      path,
      auditExportChunks({ format: request.format, range, read, sign: deps.signing.signer(), now: clock, summary }),
    );
    const checkpoint = summary.finalCheckpoint;
    return await record('AuditExportCompleted', {
      orgId: job.orgId,
      exportId: job.exportId,
      format: request.format,
      events: summary.events,
      bytes,
      finalCheckpoint: checkpoint && { count: checkpoint.count, head: checkpoint.head, keyId: checkpoint.keyId },
      problem: summary.problem && 'the stored events no longer match the sealed chain; the file ends without a final checkpoint',
    });
  } catch (error) {
    if (attempt.final) {
      const reason = (error as { code?: unknown }).code;
      await record('AuditExportFailed', {
        orgId: job.orgId,
        exportId: job.exportId,
        reason: typeof reason === 'string' && /^[A-Z_.0-9]{1,64}$/.test(reason) ? reason : (error as Error).name ?? 'Error',
      });
    }
    throw error;
  }
}
