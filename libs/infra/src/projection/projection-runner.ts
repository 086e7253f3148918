import type { Pool } from 'pg';
import { type EventStore, type Position, type RecordedEvent, START, type Subscription } from '../event-store/event-store.port';
import { inTransaction } from '../database/transaction';
import type { JsonLogger } from '../runtime/logger';
import { CheckpointStore } from './checkpoint-store';
import { type Consumer, consumes } from './projection';

/** Someone else (a rebuild, a second projector) moved the checkpoint: reload it and go on from there. */
class CheckpointMovedError extends Error {
  constructor(name: string) {
    super(`The checkpoint of ${name} moved under this runner.`);
  }
}

export interface ProjectionRunnerOptions {
  readonly batchSize?: number;
  readonly logger?: JsonLogger;
  /** After a projection's batch has committed (so a client told of a change reads the new rows). Best effort. */
  readonly onCommitted?: (consumer: string, events: readonly RecordedEvent[]) => Promise<void>;
}

const MAX_BACKOFF_MS = 10_000;

/**
 * Where a content error came from, by name only (`table.column`, the constraint): the message of a data exception
 * quotes the value it rejected, which is event data and stays out of the parked record and the log.
 */
function refusedBy(error: Error & { table?: string; column?: string; constraint?: string; dataType?: string }): string {
  const place = [error.table, error.column].filter(Boolean).join('.');
  return [place, error.constraint, error.dataType].filter(Boolean).join(' ') || 'unnamed';
}

/** A database error caused by what a row would hold (SQLSTATE class 22, data exception; 23, constraint violation). */
function isContentError(error: unknown): error is Error & { code: string } {
  const code = (error as { code?: unknown } | null)?.code;
  return error instanceof Error && typeof code === 'string' && /^2[23][0-9A-Z]{3}$/.test(code);
}

/**
 * Runs one projection or reactor from its checkpoint. For a projection, every batch is applied and the checkpoint
 * compare-and-set in one transaction: a crash loses nothing and applies nothing twice. A reactor's side effects
 * happen first and its checkpoint after, so a crash repeats reactions (they are idempotent) but never drops one.
 */
export class ProjectionRunner {
  private readonly checkpoints: CheckpointStore;
  private subscription: Subscription | undefined;
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly pool: Pool,
    private readonly store: EventStore,
    readonly consumer: Consumer,
    private readonly options: ProjectionRunnerOptions = {},
  ) {
    this.checkpoints = new CheckpointStore(pool);
  }

  get name(): string {
    return this.consumer.name;
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.subscription?.stop();
    await this.loop;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      try {
        const checkpoint = await this.checkpoints.load(this.name);
        let expected = checkpoint.position;
        this.subscription = this.store.subscribeToAll(
          checkpoint.position ?? START,
          async (events) => {
            expected = await this.handle(events, expected);
            failures = 0;
          },
          { batchSize: this.options.batchSize ?? 200 },
        );
        if (this.stopped) await this.subscription.stop();
        await this.subscription.done;
      } catch (error) {
        if (this.stopped) break;
        if (error instanceof CheckpointMovedError) {
          this.options.logger?.event('info', 'checkpoint moved; reloading', { consumer: this.name });
          continue;
        }
        failures += 1;
        this.options.logger?.event('error', 'consumer failed; retrying', { consumer: this.name, error, attempt: failures });
        await new Promise((r) => setTimeout(r, Math.min(MAX_BACKOFF_MS, 100 * 2 ** failures)));
      }
    }
  }

  /** Applies one batch; returns the new checkpoint. */
  async handle(events: readonly RecordedEvent[], expected: Position | null): Promise<Position> {
    const last = events[events.length - 1]!.position;
    const consumer = this.consumer;
    if (consumer.kind === 'reactor') {
      for (const event of events) if (consumes(consumer, event.type)) await consumer.react(event);
    }
    let parked: ReadonlySet<string> = new Set();
    try {
      await inTransaction(this.pool, async (tx) => {
        if (!(await this.checkpoints.lockIfAt(tx, this.name, expected))) throw new CheckpointMovedError(this.name);
        if (consumer.kind === 'projection') {
          for (const event of events) if (consumes(consumer, event.type)) await consumer.apply(tx, event);
        }
        await this.checkpoints.advance(tx, this.name, last, events.length);
      });
    } catch (error) {
      if (consumer.kind !== 'projection' || !isContentError(error)) throw error;
      parked = await this.applyParkingMalformed(consumer, events, expected, last);
    }
    if (consumer.kind === 'projection' && this.options.onCommitted) {
      const applied = events.filter((event) => consumes(consumer, event.type) && !parked.has(event.id));
      if (applied.length > 0) await this.options.onCommitted(this.name, applied).catch((error: unknown) =>
        this.options.logger?.event('warn', 'change notification failed', { consumer: this.name, error }),
      );
    }
    return last;
  }

  /**
   * The batch again, each event in a savepoint of its own: an event whose content the read model refuses (a data
   * exception or a constraint violation, SQLSTATE classes 22 and 23) is rolled back to its savepoint and recorded in
   * `projection_parked_events` with the SQLSTATE and what refused it, and the projection goes on past it. Any other
   * failure (the connection, a lock, a bug that throws) is thrown as before, and the batch is retried. Returns the
   * ids of the events set aside.
   */
  private async applyParkingMalformed(
    consumer: Extract<Consumer, { kind: 'projection' }>,
    events: readonly RecordedEvent[],
    expected: Position | null,
    last: Position,
  ): Promise<Set<string>> {
    const parked = new Set<string>();
    await inTransaction(this.pool, async (tx) => {
      if (!(await this.checkpoints.lockIfAt(tx, this.name, expected))) throw new CheckpointMovedError(this.name);
      for (const event of events) {
        if (!consumes(consumer, event.type)) continue;
        await tx.query('savepoint projection_event');
        try {
          await consumer.apply(tx, event);
          await tx.query('release savepoint projection_event');
        } catch (error) {
          if (!isContentError(error)) throw error;
          const by = refusedBy(error);
          await tx.query('rollback to savepoint projection_event');
          await tx.query(
            `insert into projection_parked_events (consumer, event_id, position, event_type, sqlstate, refused_by)
             values ($1, $2, $3, $4, $5, $6) on conflict (consumer, event_id) do nothing`,
            [this.name, event.id, event.position, event.type, error.code, by],
          );
          parked.add(event.id);
          this.options.logger?.event('error', 'event parked: the read model refused its content', {
            consumer: this.name,
            eventId: event.id,
            eventType: event.type,
            sqlstate: error.code,
            refusedBy: by,
          });
        }
      }
      await this.checkpoints.advance(tx, this.name, last, events.length);
    });
    return parked;
  }

  /** Applies everything committed so far, then returns (for `rebuild` and tests). */
  async catchUp(): Promise<number> {
    const checkpoint = await this.checkpoints.load(this.name);
    let position = checkpoint.position;
    let applied = 0;
    for (;;) {
      const batch = await this.store.readAll(position ?? START, { maxCount: this.options.batchSize ?? 500 });
      if (batch.length === 0) return applied;
      position = await this.handle(batch, position);
      applied += batch.length;
    }
  }

  /** Empties the read model and rewinds the checkpoint to the start, atomically; a running runner notices the CAS. */
  async reset(): Promise<void> {
    if (this.consumer.kind !== 'projection') throw new Error(`${this.name} is a reactor; replaying it would repeat its side effects.`);
    const tables = this.consumer.tables;
    await inTransaction(this.pool, async (tx) => {
      await tx.query('select 1 from projection_checkpoints where name = $1 for update', [this.name]);
      if (tables.length > 0) await tx.query(`truncate ${tables.map((t) => `"${t}"`).join(', ')}`);
      await this.checkpoints.reset(tx, this.name);
    });
  }
}
