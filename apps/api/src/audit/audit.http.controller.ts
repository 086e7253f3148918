import { Controller, Get, Header, Inject, Param, ParseUUIDPipe, Query, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { toNewEvents } from '@bastion/domain';
import {
  auditExportCsv,
  auditExportJsonl,
  type ChainState,
  chainOf,
  emptyChain,
  RECORDED_AT_CANONICAL_SQL,
  type SignedCheckpoint,
  type StoredEvent,
  storedEventFromRow,
  type EventsTableRow,
} from '@bastion/infra/audit';
import { PostgresEventStore } from '@bastion/infra/event-store/postgres/postgres-event-store.adapter';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsISO8601, IsOptional, IsString, IsUUID, Matches, Max, MaxLength, Min } from 'class-validator';
import type { Response } from 'express';
import { HumansOnly, Public } from '../auth/public.decorator';
import { type BastionRequest, commandContext } from '../auth/request-context';
import { Requires } from '../auth/requires.decorator';
import { SessionDatabase } from '../auth/session-database';

import { AUDIT_SIGNING } from './audit.tokens';
import type { AuditSigningClient } from './audit-signing.client';

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

const PAGE = 1000;

@ApiTags('audit')
@Controller()
export class AuditController {
  constructor(
    private readonly db: SessionDatabase,
    @Inject(AUDIT_SIGNING) private readonly signing: AuditSigningClient,
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
    const rows = await this.db.inOrg(req.principal!, orgId, { permission: 'audit:view' }, async (tx) =>
      (
        await tx.query(
          `select l.position, l.count, l.chain_hash, l.event_id, l.event_type, l.stream_id, l.actor_type, l.actor_id, l.occurred_at,
                  e.metadata -> 'sessionId' as session_id, e.metadata -> 'ip' as ip
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
        ip: r.ip,
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
    const rows = await this.db.inOrg(req.principal!, orgId, { permission: 'audit:view' }, async (tx) =>
      (await tx.query('select * from audit.checkpoints where org_id = $1 order by count desc, issued_at desc limit 20', [orgId])).rows,
    );
    return { checkpoints: rows.map(toSignedCheckpoint) };
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
    const principal = req.principal!;
    const chain = chainOf(orgId);
    const range = await this.db.inOrg(principal, orgId, { permission: 'audit:export' }, async (tx) => {
      await tx.query('select authz.require_fresh_mfa()');
      const bounds = (
        await tx.query<{ first: string | null; last: string | null }>(
          `select min(count) as first, max(count) as last from audit.chain_links
            where chain = $1 and ($2::timestamptz is null or occurred_at >= $2) and ($3::timestamptz is null or occurred_at <= $3)`,
          [chain, q.from ?? null, q.to ?? null],
        )
      ).rows[0]!;
      const first = bounds.first === null ? null : Number(bounds.first);
      const last = bounds.last === null ? null : Number(bounds.last);
      let from: ChainState = emptyChain(chain);
      if (first !== null && first > 1) {
        const prev = (await tx.query('select count, chain_hash, position from audit.chain_links where chain = $1 and count = $2', [chain, first - 1])).rows[0];
        from = { chain, count: Number(prev.count), head: prev.chain_hash, lastPosition: String(prev.position) };
      }
      const [event] = toNewEvents([{ type: 'AuditExported', data: { orgId, format: q.format ?? 'jsonl', from: q.from ?? null, to: q.to ?? null, fromCount: first, toCount: last } }], commandContext(req, { orgId }));
      await new PostgresEventStore(tx).append(`org-${orgId}`, [event!], 'any');
      return { from, first, last };
    });

    const db = this.db;
    async function* events(): AsyncGenerator<StoredEvent> {
      if (range.first === null || range.last === null) return;
      let after = range.first - 1;
      while (after < range.last) {
        const rows = await db.inOrg(principal, orgId, { permission: 'audit:export' }, async (tx) =>
          (
            await tx.query<EventsTableRow & { count: string; chain_hash: string }>(
              `select l.count, l.chain_hash, e.position, e.transaction_id, e.id, e.stream_id, e.revision, e.type, e.org_id, e.data, e.metadata,
                      ${RECORDED_AT_CANONICAL_SQL.replace('recorded_at', 'e.recorded_at')} as recorded_at
                 from audit.chain_links l left join events e on e.position = l.position
                where l.chain = $1 and l.count > $2 and l.count <= $3 order by l.count limit ${PAGE}`,
              [chain, after, range.last],
            )
          ).rows,
        );
        if (rows.length === 0) return;
        for (const row of rows) {
          // A sealed event missing from the store (deleted behind disabled triggers) leaves a gap the verifier names.
          if (row.id) yield { ...storedEventFromRow(row), sealedChainHash: row.chain_hash } as StoredEvent;
        }
        after = Number(rows[rows.length - 1]!.count);
      }
    }
    const sealed = await this.db.inOrg(principal, orgId, { permission: 'audit:export' }, async (tx) =>
      (
        await tx.query('select * from audit.checkpoints where chain = $1 and count >= $2 and count <= $3 order by count, issued_at', [
          chain,
          range.from.count,
          range.last ?? 0,
        ])
      ).rows.map(toSignedCheckpoint),
    );
    const options = {
      from: range.from,
      events: events(),
      checkpoints: sealed,
      sign: (statement: { chain: string; count: number; head: string; position: string | null }) =>
        this.signing.sign({ chain: statement.chain as typeof chain, count: statement.count, head: statement.head, position: statement.position }),
      now: () => new Date(),
    };
    const csv = q.format === 'csv';
    res.status(200).type(csv ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8');
    res.setHeader('Content-Disposition', `attachment; filename="audit-${orgId}.${csv ? 'csv' : 'jsonl'}"`);
    res.setHeader('Cache-Control', 'no-store');
    try {
      for await (const line of csv ? auditExportCsv(options) : auditExportJsonl(options)) {
        if (!res.write(line.endsWith('\n') ? line : `${line}\n`)) await new Promise((r) => res.once('drain', r));
      }
    } catch {
      // The sealer signs only states it sealed: when the stored events no longer hash to the sealed chain (an edit
      // behind disabled triggers), it refuses. The export then ends without its final checkpoint; the verifier
      // names the first record that does not match, and the missing checkpoint as truncation.
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

function toSignedCheckpoint(r: Record<string, unknown>): SignedCheckpoint {
  return {
    chain: r.chain as SignedCheckpoint['chain'],
    position: r.position === null ? null : String(r.position),
    count: Number(r.count),
    head: r.head as string,
    issuedAt: (r.issued_at as Date).toISOString(),
    keyId: r.key_id as string,
    signature: r.signature as string,
  };
}

