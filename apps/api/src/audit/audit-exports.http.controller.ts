import { Body, Controller, Get, HttpCode, Inject, Param, ParseUUIDPipe, Post, Req, Res } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiOkResponse, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { toNewEvents } from '@bastion/domain';
import {
  type AuditExportRequestedData,
  type AuditExportStatus,
  auditExportFilePath,
  auditExportJobId,
  auditExportMediaType,
  auditExportRange,
  auditExportStatus,
  auditExportStreamId,
  chainOf,
  openAuditExportFile,
} from '@bastion/infra/audit';
import { PostgresEventStore } from '@bastion/infra/event-store/postgres/postgres-event-store.adapter';
import { uuidv7 } from '@bastion/infra/ids/uuid-v7';
import type { JobQueue } from '@bastion/infra/queue/job-queue';
import { IsIn, IsISO8601, IsOptional } from 'class-validator';
import type { Response } from 'express';
import type { PoolClient } from 'pg';
import { HumansOnly } from '../auth/public.decorator';
import { type BastionRequest, commandContext } from '../auth/request-context';
import { Requires } from '../auth/requires.decorator';
import { SessionDatabase } from '../auth/session-database';
import { ProblemError, problemType } from '../http/problem';
import { AUDIT_EXPORTS_DIR, AUDIT_EXPORTS_QUEUE } from './audit.tokens';

export class RequestAuditExport {
  @ApiPropertyOptional({ enum: ['jsonl', 'csv'], default: 'jsonl' }) @IsOptional() @IsIn(['jsonl', 'csv']) format?: 'jsonl' | 'csv';
  @ApiPropertyOptional() @IsOptional() @IsISO8601() from?: string;
  @ApiPropertyOptional() @IsOptional() @IsISO8601() to?: string;
}

function noSuchExport(): ProblemError {
  return new ProblemError({ type: problemType('not-found'), title: 'no such export', status: 404 });
}

/**
 * Large exports as files: a request (audit:export, step-up MFA) records `AuditExported` in the export's own stream
 * and enqueues the `audit-exports` job, which writes the same export as `GET …/audit/export` to a file; the
 * download streams it. Every read goes through the requester's RLS scope, so an export id of another organisation
 * is simply not found, and the file path is built from the organisation as well as the export id.
 */
@ApiTags('audit')
@Controller()
export class AuditExportsController {
  constructor(
    private readonly db: SessionDatabase,
    @Inject(AUDIT_EXPORTS_QUEUE) private readonly queue: JobQueue<'audit-exports'>,
    @Inject(AUDIT_EXPORTS_DIR) private readonly dir: string,
  ) {}

  @HumansOnly()
  @Requires('audit:export')
  @ApiBearerAuth()
  @Post('v1/orgs/:orgId/audit/exports')
  @HttpCode(202)
  @ApiAcceptedResponse({ description: '{exportId, status: "pending"}; poll GET …/audit/exports/:exportId' })
  async request(@Param('orgId', new ParseUUIDPipe()) orgId: string, @Body() body: RequestAuditExport, @Req() req: BastionRequest) {
    const exportId = uuidv7();
    const ctx = commandContext(req, { orgId });
    const event = await this.db.inOrg(req, orgId, async (tx) => {
      await tx.query('select authz.require_fresh_mfa()');
      // The range is fixed now: the file holds what was sealed when it was asked for, however long the job waits.
      const range = await auditExportRange(tx, chainOf(orgId), { from: body.from, to: body.to });
      const data: AuditExportRequestedData = {
        orgId,
        exportId,
        delivery: 'file',
        format: body.format ?? 'jsonl',
        from: body.from ?? null,
        to: body.to ?? null,
        fromCount: range.first,
        toCount: range.last,
      };
      const [requested] = toNewEvents([{ type: 'AuditExported', data: { ...data } }], ctx);
      await new PostgresEventStore(tx).append(auditExportStreamId(exportId), [requested!], 'no_stream');
      return requested!;
    });
    await this.enqueue(orgId, exportId, event.id, ctx.correlationId);
    return { exportId, status: 'pending' };
  }

  @HumansOnly()
  @Requires('audit:export')
  @ApiBearerAuth()
  @Get('v1/orgs/:orgId/audit/exports/:exportId')
  @ApiOkResponse({ description: '{exportId, status: pending|completed|failed, format, from, to, requestedAt, completedAt, events, bytes, finalCheckpoint}' })
  async status(@Param('orgId', new ParseUUIDPipe()) orgId: string, @Param('exportId', new ParseUUIDPipe()) exportId: string, @Req() req: BastionRequest) {
    const { status, requested } = await this.db.inOrg(req, orgId, (tx) => readStatus(tx, orgId, exportId));
    if (status.status === 'unknown') throw noSuchExport();
    // A request whose enqueue was lost (Redis down right after the event) is picked up again; the job id dedupes.
    if (status.status === 'pending' && requested) await this.enqueue(orgId, exportId, requested.id, requested.correlationId).catch(() => undefined);
    const { request } = status;
    return {
      exportId,
      status: status.status,
      format: request.format,
      from: request.from,
      to: request.to,
      fromCount: request.fromCount,
      toCount: request.toCount,
      requestedAt: status.requestedAt,
      completedAt: status.status === 'pending' ? null : status.completedAt,
      events: status.status === 'completed' ? status.result.events : null,
      bytes: status.status === 'completed' ? status.result.bytes : null,
      finalCheckpoint: status.status === 'completed' ? status.result.finalCheckpoint : null,
      problem: status.status === 'completed' ? status.result.problem : status.status === 'failed' ? status.failure.reason : null,
    };
  }

  /** Streams the finished file (audit:export, step-up MFA), only through the organisation that requested it. */
  @HumansOnly()
  @Requires('audit:export')
  @ApiBearerAuth()
  @Get('v1/orgs/:orgId/audit/exports/:exportId/download')
  @ApiOkResponse({ description: 'application/x-ndjson or text/csv, the file the job wrote' })
  async download(
    @Param('orgId', new ParseUUIDPipe()) orgId: string,
    @Param('exportId', new ParseUUIDPipe()) exportId: string,
    @Req() req: BastionRequest,
    @Res() res: Response,
  ): Promise<void> {
    const { status } = await this.db.inOrg(req, orgId, async (tx) => {
      await tx.query('select authz.require_fresh_mfa()');
      return readStatus(tx, orgId, exportId);
    });
    if (status.status === 'unknown') throw noSuchExport();
    if (status.status !== 'completed') {
      throw new ProblemError({ type: problemType('export-not-ready'), title: `the export is ${status.status}`, status: 409 });
    }
    const file = await openAuditExportFile(auditExportFilePath(this.dir, orgId, exportId, status.request.format));
    if (!file) throw new ProblemError({ type: problemType('export-gone'), title: 'the export file is no longer kept', status: 410 });
    res.status(200).type(auditExportMediaType(status.request.format));
    res.setHeader('Content-Length', String(file.size));
    res.setHeader('Content-Disposition', `attachment; filename="audit-${orgId}-${exportId}.${status.request.format}"`);
    res.setHeader('Cache-Control', 'no-store');
    file.stream.on('error', () => res.destroy());
    file.stream.pipe(res);
  }

  private async enqueue(orgId: string, exportId: string, causationEventId: string, correlationId: string): Promise<void> {
    await this.queue.add(auditExportJobId(exportId), { orgId, exportId, causationEventId, correlationId });
  }
}

/** The export's stream as the requester may see it: RLS shows events of the organisation in scope only. */
async function readStatus(
  tx: PoolClient,
  orgId: string,
  exportId: string,
): Promise<{ status: AuditExportStatus; requested?: { id: string; correlationId: string } }> {
  const { rows } = await tx.query<{ id: string; type: string; data: unknown; occurred_at: string; correlation_id: string }>(
    `select id, type, data, metadata ->> 'occurredAt' as occurred_at, metadata ->> 'correlationId' as correlation_id
       from events where stream_id = $1 and org_id = $2 order by revision`,
    [auditExportStreamId(exportId), orgId],
  );
  const status = auditExportStatus(
    orgId,
    rows.map((r) => ({ type: r.type, data: r.data, occurredAt: r.occurred_at })),
  );
  return { status, requested: rows[0] && { id: rows[0].id, correlationId: rows[0].correlation_id } };
}
