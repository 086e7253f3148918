import type { Pool, PoolClient } from 'pg';

/** What a transaction does besides its work. The two statements ride the `begin` and `commit` round trips. */
export interface TransactionShape {
  /** The transaction's first statement after `begin`, in the same round trip (no parameters). */
  readonly alsoAtBegin?: `select ${string}`;
  /** Run after `commit` or `rollback`, in the same round trip (no parameters), whichever way the transaction ends. */
  readonly alsoAtEnd?: `select ${string}`;
  /** Statements with parameters that must come before `work`, and commit or roll back with it. */
  readonly first?: (tx: PoolClient) => Promise<void>;
}

/**
 * One transaction on a pooled connection: `first` (if any) and `work` commit together or roll back together. A
 * connection whose rollback failed is destroyed rather than returned: it might still be inside the transaction.
 */
export async function inTransaction<T>(pool: Pool, work: (tx: PoolClient) => Promise<T>, shape: TransactionShape = {}): Promise<T> {
  const client = await pool.connect();
  const then = (statement: string) => (shape.alsoAtEnd ? `${statement}; ${shape.alsoAtEnd}` : statement);
  let broken = false;
  try {
    await client.query(shape.alsoAtBegin ? `begin; ${shape.alsoAtBegin}` : 'begin');
    if (shape.first) await shape.first(client);
    const result = await work(client);
    await client.query(then('commit'));
    return result;
  } catch (error) {
    await client.query(then('rollback')).catch(() => {
      broken = true;
    });
    throw error;
  } finally {
    client.release(broken);
  }
}
