import type { Pool, PoolClient } from 'pg';
import type { Position } from '../event-store/event-store.port';

export interface Checkpoint {
  readonly position: Position | null;
  readonly eventsSeen: number;
}

/** Rows of `projection_checkpoints`: one per projection or reactor, advanced only by compare-and-set. */
export class CheckpointStore {
  constructor(private readonly pool: Pool) {}

  async load(name: string): Promise<Checkpoint> {
    await this.pool.query('insert into projection_checkpoints (name) values ($1) on conflict (name) do nothing', [name]);
    const { rows } = await this.pool.query<{ position: string | null; events_seen: string }>(
      'select position, events_seen from projection_checkpoints where name = $1',
      [name],
    );
    return { position: rows[0]!.position as Position | null, eventsSeen: Number(rows[0]!.events_seen) };
  }

  /** Locks the row for the rest of `tx` and tells whether it still holds `expected`. */
  async lockIfAt(tx: PoolClient, name: string, expected: Position | null): Promise<boolean> {
    const { rows } = await tx.query<{ position: string | null }>(
      'select position from projection_checkpoints where name = $1 for update',
      [name],
    );
    return rows.length === 1 && (rows[0]!.position ?? null) === expected;
  }

  async advance(tx: PoolClient, name: string, to: Position, seen: number): Promise<void> {
    await tx.query(
      'update projection_checkpoints set position = $2, events_seen = events_seen + $3, updated_at = now() where name = $1',
      [name, to, seen],
    );
  }

  async reset(tx: PoolClient, name: string): Promise<void> {
    await tx.query(
      `insert into projection_checkpoints (name) values ($1)
       on conflict (name) do update set position = null, events_seen = 0, updated_at = now()`,
      [name],
    );
  }
}
