import type { PoolClient } from 'pg';
import type { RecordedEvent } from '../event-store/event-store.port';

/**
 * A read model. `apply` runs inside the transaction that also advances the projection's checkpoint, so an
 * event is applied exactly once even when the projector dies mid-batch. `apply` should still be idempotent: a
 * rebuild replays everything.
 */
export interface Projection {
  readonly kind: 'projection';
  readonly name: string;
  /** Event types it reads; others advance the checkpoint without a call. `'*'` means every event. */
  readonly handles: readonly string[] | '*';
  /** Its tables, emptied by a rebuild. */
  readonly tables: readonly string[];
  apply(tx: PoolClient, event: RecordedEvent): Promise<void>;
}

/**
 * A process manager: reacts to events by enqueueing work. Its side effect cannot join a database transaction, so
 * it must be idempotent (deterministic job ids): after a crash the batch is reacted to again.
 */
export interface Reactor {
  readonly kind: 'reactor';
  readonly name: string;
  readonly handles: readonly string[];
  react(event: RecordedEvent): Promise<void>;
}

export type Consumer = Projection | Reactor;

export function consumes(consumer: Consumer, type: string): boolean {
  return consumer.handles === '*' || consumer.handles.includes(type);
}
