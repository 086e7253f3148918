import type { Pool, PoolClient } from 'pg';

/** How a transaction opens: `begin`, or `begin` and one more statement without parameters in the same round trip. */
export type Opening = 'begin' | `begin; select ${string}`;

/**
 * One transaction on a pooled connection: `first` (if any) and `work` commit together or roll back together. A
 * connection whose rollback failed is destroyed rather than returned: it might still be inside the transaction.
 */
export async function inTransaction<T>(
  pool: Pool,
  work: (tx: PoolClient) => Promise<T>,
  first?: (tx: PoolClient) => Promise<void>,
  opening: Opening = 'begin',
): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query(opening);
    if (first) await first(client);
    const result = await work(client);
    await client.query('commit');
    return result;
  } catch (error) {
    await client.query('rollback').catch(() => {
      broken = true;
    });
    throw error;
  } finally {
    client.release(broken);
  }
}
