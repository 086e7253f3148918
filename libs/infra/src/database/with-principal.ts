import type { Pool, PoolClient } from 'pg';

/** What the API presents for a request: the session from the verified access token, and its derived proof. */
export interface SessionCredentials {
  readonly sessionId: string;
  readonly proof: Buffer;
}

export class SessionNotLiveError extends Error {
  readonly code = 'AUTH.SESSION_NOT_LIVE';
  constructor() {
    super('The session is revoked, expired or not proven.');
    this.name = 'SessionNotLiveError';
  }
}

async function inTransaction<T>(pool: Pool, work: (tx: PoolClient) => Promise<T>, first?: (tx: PoolClient) => Promise<void>): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query('begin');
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
    // A connection whose rollback failed is not returned to the pool: it might still be inside the transaction.
    client.release(broken);
  }
}

/**
 * The one way the API touches the database on behalf of a principal (DESIGN §4): one transaction whose first
 * statement is `authz.begin(session, proof, org)`. A revoked or expired session stops here, at its next request.
 * Settings are transaction-local, so the pooled connection carries no principal into the next request.
 */
export async function withPrincipal<T>(
  pool: Pool,
  session: SessionCredentials,
  orgId: string | null,
  work: (tx: PoolClient) => Promise<T>,
): Promise<T> {
  return inTransaction(pool, work, async (tx) => {
    try {
      await tx.query('select * from authz.begin($1, $2, $3)', [session.sessionId, session.proof, orgId]);
    } catch (error) {
      if ((error as { code?: string }).code === '28000') throw new SessionNotLiveError();
      throw error;
    }
  });
}

/**
 * A transaction with no principal, for what happens before anyone is authenticated (sign-up, sign-in, email
 * links). Such a transaction can reach only the narrow pre-authentication definer functions.
 */
export async function withoutPrincipal<T>(pool: Pool, work: (tx: PoolClient) => Promise<T>): Promise<T> {
  return inTransaction(pool, work);
}
