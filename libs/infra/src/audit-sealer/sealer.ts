import { SYSTEM_ACTOR, toNewEvents } from '@bastion/domain';
import type Redis from 'ioredis';
import type { Pool, PoolClient } from 'pg';
import {
  activeAuditKey,
  type AuditKey,
  auditKeysJwks,
  type ChainId,
  type ChainState,
  chainOf,
  checkpointOf,
  type CheckpointStatement,
  emptyChain,
  extendChain,
  RECORDED_AT_CANONICAL_SQL,
  signCheckpoint,
  type SignedCheckpoint,
  type StoredEvent,
  storedEventFromRow,
  type EventsTableRow,
  type SealedStateRequest,
  signRepliesChannel,
  signRequestsChannel,
} from '../audit';
import { type EventStore, type Position, type RecordedEvent, START, type Subscription } from '../event-store/event-store.port';
import { PostgresEventStore } from '../event-store/postgres/postgres-event-store.adapter';
import { decodePgPosition } from '../event-store/postgres/postgres-position';
import { inTransaction } from '../database/transaction';
import { uuidv7 } from '../ids/uuid-v7';
import type { JsonLogger } from '../runtime/logger';

export interface SealerOptions {
  readonly checkpointEvery: number;
  readonly checkpointSeconds: number;
  readonly verifySeconds: number;
  readonly redisPrefix: string;
  /** Events per sealing transaction (the subscription's batch); 500 by default. */
  readonly batchSize?: number;
  readonly logger?: JsonLogger;
  readonly clock?: () => Date;
}

const ROWS_SQL = `
  select position, transaction_id, id, stream_id, revision, type, org_id, data, metadata,
         ${RECORDED_AT_CANONICAL_SQL} as recorded_at
    from events where position = any ($1::bigint[]) order by transaction_id, position`;

class ChainMovedError extends Error {}

/**
 * The sealer (DESIGN §3): reads the store in its gated global order and extends one hash chain per organisation
 * plus one for platform events. Each chain head advances by compare-and-set on its count, so two sealers can never
 * fork a chain (the loser reloads and finds the events already sealed). Every N events or T seconds per chain it
 * signs a checkpoint with the audit key, which only this process loads. It also signs, on request, a checkpoint of
 * a chain state it has itself sealed (exports end with one), and periodically re-verifies every chain against the
 * stored events, raising `AuditChainBroken` when an event was edited or deleted behind the triggers.
 *
 * PostgreSQL only: it reads the stored rows (transaction id, recorded_at) the chain covers.
 */
export class Sealer {
  private subscription: Subscription | undefined;
  private loop: Promise<void> | undefined;
  private stopped = false;
  private verifyTimer: NodeJS.Timeout | undefined;
  private readonly lastCheckpoint = new Map<ChainId, { count: number; at: number }>();
  private readonly clock: () => Date;
  private readonly store: EventStore;

  constructor(
    private readonly pool: Pool,
    private readonly keys: readonly AuditKey[],
    private readonly options: SealerOptions,
  ) {
    this.clock = options.clock ?? (() => new Date());
    this.store = new PostgresEventStore(pool, { pollIntervalMs: 100 });
  }

  /** Publishes the public keys (retired ones included) where the API serves /.well-known/audit-keys.json. */
  async publishKeys(): Promise<void> {
    for (const jwk of auditKeysJwks(this.keys).keys) {
      const key = this.keys.find((k) => k.kid === jwk.kid)!;
      await this.pool.query(
        `insert into audit.keys (kid, public_jwk, created_at, retired_at) values ($1, $2, $3, $4)
         on conflict (kid) do update set retired_at = excluded.retired_at`,
        [jwk.kid, jwk, key.createdAt, key.retiredAt ?? null],
      );
    }
  }

  start(): void {
    this.loop ??= this.run();
    if (this.options.verifySeconds > 0) {
      this.verifyTimer = setInterval(() => void this.verifyAll().catch(() => undefined), this.options.verifySeconds * 1000);
      this.verifyTimer.unref();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.verifyTimer);
    await this.subscription?.stop();
    await this.loop;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      try {
        await this.pool.query("insert into audit.sealer_position (name) values ('sealer') on conflict do nothing");
        const { rows } = await this.pool.query<{ position: string | null }>("select position from audit.sealer_position where name = 'sealer'");
        let expected = rows[0]!.position as Position | null;
        this.subscription = this.store.subscribeToAll(
          expected ?? START,
          async (events) => {
            expected = await this.seal(events, expected);
            failures = 0;
          },
          { batchSize: this.options.batchSize ?? 500 },
        );
        if (this.stopped) await this.subscription.stop();
        await this.subscription.done;
      } catch (error) {
        if (this.stopped) break;
        if (!(error instanceof ChainMovedError)) {
          failures += 1;
          this.options.logger?.event('error', 'sealer failed; retrying', { error, attempt: failures });
          await new Promise((r) => setTimeout(r, Math.min(10_000, 100 * 2 ** failures)));
        }
      }
    }
  }

  /** Seals one batch in one transaction; returns the new sealer position. */
  async seal(events: readonly RecordedEvent[], expected: Position | null): Promise<Position> {
    const last = events[events.length - 1]!.position;
    const positions = events.map((e) => decodePgPosition(e.position).position);
    const advanced: ChainState[] = [];
    await inTransaction(this.pool, async (tx) => {
      const cp = await tx.query<{ position: string | null }>("select position from audit.sealer_position where name = 'sealer' for update");
      if ((cp.rows[0]?.position ?? null) !== expected) throw new ChainMovedError('another sealer moved on');
      const { rows } = await tx.query<EventsTableRow>(ROWS_SQL, [positions]);
      const byChain = new Map<ChainId, StoredEvent[]>();
      for (const row of rows) {
        const chain = chainOf(row.org_id);
        const stored = byChain.get(chain);
        if (stored) stored.push(storedEventFromRow(row));
        else byChain.set(chain, [storedEventFromRow(row)]);
      }
      for (const [chain, stored] of byChain) {
        const state = await this.head(tx, chain);
        const { state: next, links } = extendChain(state, stored);
        // One statement per chain and batch: a round trip per link capped the sealer below the append rate.
        const metadata = links.map((link) => link.event.metadata as { actor?: { type?: string; id?: string }; occurredAt?: string });
        await tx.query(
          `insert into audit.chain_links (chain, count, position, org_id, chain_hash, event_id, event_type, stream_id, actor_type, actor_id, occurred_at)
           select $1, l.count, l.position, $2, l.chain_hash, l.event_id, l.event_type, l.stream_id, l.actor_type, l.actor_id, l.occurred_at
             from unnest($3::bigint[], $4::bigint[], $5::text[], $6::uuid[], $7::text[], $8::text[], $9::text[], $10::text[], $11::timestamptz[])
               as l(count, position, chain_hash, event_id, event_type, stream_id, actor_type, actor_id, occurred_at)`,
          [
            chain,
            links[0]!.event.orgId,
            links.map((link) => link.count),
            links.map((link) => link.event.position),
            links.map((link) => link.chainHash),
            links.map((link) => link.event.id),
            links.map((link) => link.event.type),
            links.map((link) => link.event.streamId),
            metadata.map((m) => m.actor?.type ?? 'system'),
            metadata.map((m) => m.actor?.id ?? 'unknown'),
            links.map((link, i) => metadata[i]!.occurredAt ?? link.event.recordedAt),
          ],
        );
        // Compare-and-set: the head must still be at the count this batch extended.
        const moved = await tx.query(
          `update audit.chain_heads set count = $2, head = $3, last_position = $4, updated_at = now() where chain = $1 and count = $5`,
          [chain, next.count, next.head, next.lastPosition, state.count],
        );
        if (moved.rowCount !== 1) throw new ChainMovedError(`chain ${chain} moved`);
        advanced.push(next);
      }
      await tx.query("update audit.sealer_position set position = $1 where name = 'sealer'", [last]);
    });
    for (const state of advanced) await this.maybeCheckpoint(state);
    return last;
  }

  private async head(tx: PoolClient, chain: ChainId): Promise<ChainState> {
    const orgId = chain === 'platform' ? null : chain.slice('org:'.length);
    await tx.query(
      `insert into audit.chain_heads (chain, org_id, count, head, last_position) values ($1, $2, 0, $3, null) on conflict do nothing`,
      [chain, orgId, emptyChain(chain).head],
    );
    const { rows } = await tx.query<{ count: string; head: string; last_position: string | null }>(
      'select count, head, last_position from audit.chain_heads where chain = $1 for update',
      [chain],
    );
    return { chain, count: Number(rows[0]!.count), head: rows[0]!.head, lastPosition: rows[0]!.last_position };
  }

  private async maybeCheckpoint(state: ChainState): Promise<void> {
    const last = this.lastCheckpoint.get(state.chain) ?? { count: 0, at: 0 };
    const now = this.clock().getTime();
    const due = state.count - last.count >= this.options.checkpointEvery || now - last.at >= this.options.checkpointSeconds * 1000;
    if (!due || state.count === last.count) return;
    const signed = await this.sign(checkpointOf(state, this.clock()));
    await this.storeCheckpoint(signed);
    this.lastCheckpoint.set(state.chain, { count: state.count, at: now });
  }

  private async storeCheckpoint(signed: SignedCheckpoint): Promise<void> {
    await this.pool.query(
      `insert into audit.checkpoints (chain, count, position, org_id, head, issued_at, key_id, signature)
       values ($1, $2, $3, $4, $5, $6, $7, $8) on conflict do nothing`,
      [
        signed.chain,
        signed.count,
        signed.position,
        signed.chain === 'platform' ? null : signed.chain.slice('org:'.length),
        signed.head,
        signed.issuedAt,
        signed.keyId,
        signed.signature,
      ],
    );
  }

  private async sign(statement: CheckpointStatement): Promise<SignedCheckpoint> {
    return signCheckpoint(statement, activeAuditKey(this.keys, this.clock()));
  }

  /**
   * Signs a checkpoint for an export, only for a state this sealer has sealed: the link at that count must carry
   * exactly that head. The API never holds the key; it can only ask for what is already in the chain.
   */
  async signSealedState(request: SealedStateRequest): Promise<SignedCheckpoint> {
    if (request.count > 0) {
      const { rows } = await this.pool.query<{ chain_hash: string; position: string }>(
        'select chain_hash, position from audit.chain_links where chain = $1 and count = $2',
        [request.chain, request.count],
      );
      if (rows[0]?.chain_hash !== request.head || String(rows[0].position) !== String(request.position)) {
        throw new Error('refused: that chain state was not sealed');
      }
    } else if (request.head !== emptyChain(request.chain).head) {
      throw new Error('refused: not the empty chain');
    }
    const signed = await this.sign({ chain: request.chain, position: request.position, count: request.count, head: request.head, issuedAt: this.clock().toISOString() });
    await this.storeCheckpoint(signed);
    return signed;
  }

  /** Answers sign requests published by the API (Redis pub/sub: request channel, one reply channel per request). */
  async serveSignRequests(subscriber: Redis, publisher: Redis): Promise<void> {
    await subscriber.subscribe(signRequestsChannel(this.options.redisPrefix));
    subscriber.on('message', (_channel: string, message: string) => {
      void (async () => {
        const { id, statement } = JSON.parse(message) as { id: string; statement: SealedStateRequest };
        try {
          const signed = await this.signSealedState(statement);
          await publisher.publish(signRepliesChannel(this.options.redisPrefix, id), JSON.stringify({ ok: true, checkpoint: signed }));
        } catch (error) {
          await publisher.publish(signRepliesChannel(this.options.redisPrefix, id), JSON.stringify({ ok: false, error: (error as Error).message }));
        }
      })();
    });
  }

  /**
   * Recomputes every chain from the stored events and compares it with the sealed links. An event edited or deleted
   * behind disabled triggers shows here as the first link that no longer matches; it is recorded as an alert and as
   * an `AuditChainBroken` event. Returns the problems found.
   */
  async verifyAll(): Promise<{ chain: string; position: string | null; problem: string }[]> {
    const problems: { chain: string; position: string | null; problem: string }[] = [];
    const { rows: chains } = await this.pool.query<{ chain: ChainId }>('select chain from audit.chain_heads');
    for (const { chain } of chains) {
      let state = emptyChain(chain);
      let count = 0;
      for (;;) {
        const { rows: links } = await this.pool.query<{ count: string; position: string; chain_hash: string }>(
          'select count, position, chain_hash from audit.chain_links where chain = $1 and count > $2 order by count limit 1000',
          [chain, count],
        );
        if (links.length === 0) break;
        const { rows } = await this.pool.query<EventsTableRow>(ROWS_SQL, [links.map((l) => l.position)]);
        const byPosition = new Map(rows.map((r) => [String(r.position), r]));
        let broken: { position: string; problem: string } | undefined;
        for (const link of links) {
          const row = byPosition.get(String(link.position));
          if (!row) {
            broken = { position: String(link.position), problem: 'event-missing' };
            break;
          }
          state = extendChain(state, [storedEventFromRow(row)]).state;
          if (state.head !== link.chain_hash) {
            broken = { position: String(link.position), problem: 'hash-mismatch' };
            break;
          }
        }
        if (broken) {
          problems.push({ chain, ...broken });
          await this.raise(chain, broken.position, broken.problem);
          break;
        }
        count = Number(links[links.length - 1]!.count);
      }
    }
    return problems;
  }

  private async raise(chain: ChainId, position: string, problem: string): Promise<void> {
    const orgId = chain === 'platform' ? null : chain.slice('org:'.length);
    const detail = `${problem} at position ${position}: the stored event no longer matches the sealed chain`;
    await this.pool.query('insert into audit.alerts (chain, org_id, position, problem, detail) values ($1, $2, $3, $4, $5)', [chain, orgId, position, problem, detail]);
    const events = toNewEvents([{ type: 'AuditChainBroken', data: { chain, position, problem } }], {
      orgId,
      actor: SYSTEM_ACTOR,
      authMethod: 'system',
      correlationId: uuidv7(),
      now: this.clock(),
      newId: () => uuidv7(),
    });
    await this.store.append(`audit-${uuidv7()}`, events, 'no_stream').catch((error: unknown) =>
      this.options.logger?.event('error', 'could not record AuditChainBroken', { error }),
    );
    this.options.logger?.event('error', 'audit chain broken', { chain, position, problem });
  }
}
