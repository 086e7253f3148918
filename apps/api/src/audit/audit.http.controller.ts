import { Controller, Get, Header, Inject, Param, ParseUUIDPipe, Query, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { toNewEvents } from '@bastion/domain';
import { type AuditSigningClient, auditExportChunks, auditExportMediaType, auditExportRange, chainOf, signedCheckpointFromRow } from '@bastion/infra/audit';
import { personalSubjectsOf, revealPersonal } from '@bastion/infra/crypto/person-keys';
import { PostgresEventStore } from '@bastion/infra/event-store/postgres/postgres-event-store.adapter';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsISO8601, IsOptional, IsString, IsUUID, Matches, Max, MaxLength, Min } from 'class-validator';
import type { Response } from 'express';
import { HumansOnly, Public } from '../auth/public.decorator';
import { type BastionRequest, commandContext } from '../auth/request-context';
import { Requires } from '../auth/requires.decorator';
import { SessionDatabase } from '../auth/session-database';
import { PersonalData } from '../identity/personal-data/personal-data';

import { AUDIT_SIGNING } from './audit.tokens';

export class AuditQuery {
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(100) actor?: string;
  @ApiPropertyOptional({ enum: ['human', 'agent', 'system'] }) @IsOptional() @IsIn(['human', 'agent', 'system']) actorType?: string;
  @ApiPropertyOptional() @IsOptional() @Matches(/^[A-Z][A-Za-z0-9]{1,99}$/) type?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(200) stream?: string;
  @ApiPropertyOptional() @IsOptional() @IsISO8601() from?: string;
  @ApiPropertyOptional() @IsOptional() @IsISO8601() to?: string;
  @ApiPropertyOptional({ enum: ['desc', 'asc'], default: 'desc' }) @IsOptional() @IsIn(['desc', 'asc']) order?: 'desc' | 'asc';
  @ApiPropertyOptional({ description: 'The nextCursor of the previous page.' }) @IsOptional() @Matches(/^\d{1,19}$/) cursor?: string;
  @ApiPropertyOptional({ default: 50 }) @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(500) limit?: number;
}

export class ExportQuery {
  @ApiPropertyOptional({ enum: ['jsonl', 'csv'], default: 'jsonl' }) @IsOptional() @IsIn(['jsonl', 'csv']) format?: 'jsonl' | 'csv';
  @ApiPropertyOptional() @IsOptional() @IsISO8601() from?: string;
  @ApiPropertyOptional() @IsOptional() @IsISO8601() to?: string;
}

export class OrgParam {
  @IsUUID() orgId!: string;
}


@ApiTags('audit')
@Controller()
export class AuditController {
  constructor(
    private readonly db: SessionDatabase,
    @Inject(AUDIT_SIGNING) private readonly signing: AuditSigningClient,
    private readonly personal: PersonalData,
  ) {}

  /** The organisation's trail, newest first by default; keyset pagination over the sealed chain. */
  @HumansOnly()
  @Requires('audit:view')
  @ApiBearerAuth()
  @Get('v1/orgs/:orgId/audit')
  @ApiOkResponse({ description: '{entries: [...], nextCursor}' })
  async query(@Param('orgId', new ParseUUIDPipe()) orgId: string, @Query() q: AuditQuery, @Req() req: BastionRequest) {
    const order = q.order ?? 'desc';
    const limit = q.limit ?? 50;
    const rows = await this.db.inOrg(req, orgId, async (tx) =>
      (
        await tx.query(
          `select l.position, l.count, l.chain_hash, l.event_id, l.event_type, l.stream_id, l.actor_type, l.actor_id, l.occurred_at,
                  e.metadata -> 'sessionId' as session_id, e.metadata -> 'ip' as ip,
                  e.metadata ->> 'requestId' as request_id, e.metadata -> 'userAgent' as user_agent
             from audit.chain_links l join events e on e.position = l.position
            where l.org_id = $1
              and ($2::text is null or l.actor_id = $2) and ($3::text is null or l.actor_type = $3)
              and ($4::text is null or l.event_type = $4) and ($5::text is null or l.stream_id = $5)
              and ($6::timestamptz is null or l.occurred_at >= $6) and ($7::timestamptz is null or l.occurred_at <= $7)
              and ($8::bigint is null or (case when $9 = 'desc' then l.position < $8 else l.position > $8 end))
            order by case when $9 = 'desc' then -l.position else l.position end
            limit $10`,
          [orgId, q.actor ?? null, q.actorType ?? null, q.type ?? null, q.stream ?? null, q.from ?? null, q.to ?? null, q.cursor ?? null, order, limit],
        )
      ).rows,
    );
    // IP addresses and user agents are sealed per person: shown when the person's key exists, else as erased.
    const keys = await this.personal.keys.keysOf(this.personal.transact, personalSubjectsOf(rows.flatMap((r) => [r.ip, r.user_agent])));
    const reveal = (r: { ip: unknown; user_agent: unknown; request_id: string | null }) => {
      const ip = revealPersonal(keys, r.ip, r.request_id ? { record: r.request_id, field: 'request.ip' } : null);
      const userAgent = revealPersonal(keys, r.user_agent, r.request_id ? { record: r.request_id, field: 'request.userAgent' } : null);
      return { ip: ip.value, ipErased: ip.erased, userAgent: userAgent.value, userAgentErased: userAgent.erased };
    };
    return {
      entries: rows.map((r) => ({
        position: String(r.position),
        chainCount: Number(r.count),
        chainHash: r.chain_hash,
        eventId: r.event_id,
        type: r.event_type,
        stream: r.stream_id,
        actor: { type: r.actor_type, id: r.actor_id },
        occurredAt: r.occurred_at,
        sessionId: r.session_id,
        ...reveal(r),
      })),
      nextCursor: rows.length === limit ? String(rows[rows.length - 1].position) : null,
    };
  }

  /** The latest signed checkpoint heads: keep them outside Bastion; they make a later rewrite detectable. */
  @HumansOnly()
  @Requires('audit:view')
  @ApiBearerAuth()
  @Get('v1/orgs/:orgId/audit/checkpoints')
  @ApiOkResponse({ description: '{checkpoints: [signed checkpoint…]} newest first' })
  async checkpoints(@Param('orgId', new ParseUUIDPipe()) orgId: string, @Req() req: BastionRequest) {
    const rows = await this.db.inOrg(req, orgId, async (tx) =>
      (await tx.query('select * from audit.checkpoints where org_id = $1 order by count desc, issued_at desc limit 20', [orgId])).rows,
    );
    return { checkpoints: rows.map(signedCheckpointFromRow) };
  }

  /**
   * Streams the trail (audit:export, step-up MFA) in constant memory, page by page in short transactions: a header
   * with the chain state it continues from, every event with its chain hash, the sealer's checkpoints in range, and a
   * final checkpoint the sealer signs now. `bastion audit verify` (docs/audit-export.md) checks it offline.
   */
  @HumansOnly()
  @Requires('audit:export')
  @ApiBearerAuth()
  @Get('v1/orgs/:orgId/audit/export')
  @ApiOkResponse({ description: 'application/x-ndjson or text/csv, streamed' })
  async export(@Param('orgId', new ParseUUIDPipe()) orgId: string, @Query() q: ExportQuery, @Req() req: BastionRequest, @Res() res: Response): Promise<void> {
    const format = q.format ?? 'jsonl';
    const range = await this.db.inOrg(req, orgId, async (tx) => {
      await tx.query('select authz.require_fresh_mfa()');
      const range = await auditExportRange(tx, chainOf(orgId), { from: q.from, to: q.to });
      const [event] = toNewEvents(
        [{ type: 'AuditExported', data: { orgId, format, from: q.from ?? null, to: q.to ?? null, fromCount: range.first, toCount: range.last } }],
        commandContext(req, { orgId }),
      );
      await new PostgresEventStore(tx).append(`org-${orgId}`, [event!], 'any');
      return range;
    });
    res.status(200).type(auditExportMediaType(format));
    res.setHeader('Content-Disposition', `attachment; filename="audit-${orgId}.${format}"`);
    res.setHeader('Cache-Control', 'no-store');
    const chunks = auditExportChunks({
      format,
      range,
      read: (work) => this.db.inOrg(req, orgId, work),
      sign: this.signing.signer(),
      now: () => new Date(),
    });
    try {
      for await (const chunk of chunks) {
        if (!res.write(chunk)) await new Promise((r) => res.once('drain', r));
      }
    } catch {
      // Headers are sent: the export ends without its final checkpoint, which the verifier reports as truncation.
    }
    res.end();
  }

  /** The audit keys that verify checkpoints; retired keys stay published. */
  @Public()
  @Get('.well-known/audit-keys.json')
  @Header('Cache-Control', 'public, max-age=300')
  @ApiOkResponse({ description: '{keys: [Ed25519 JWK…]}' })
  async keys() {
    const rows = await this.db.anonymous(async (tx) => (await tx.query('select public_jwk from audit.keys order by created_at desc')).rows);
    return { keys: rows.map((r) => r.public_jwk) };
  }
}
