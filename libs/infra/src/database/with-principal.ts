import type { Pool, PoolClient } from 'pg';
import { prepared } from './prepared-statement';
import { inTransaction } from './transaction';

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

/**
 * A plain function call (one row, no set-returning function scan), named: parsed and planned once per pooled
 * connection. Both measured cheaper by `npm run bench:rls`.
 */
const AUTHZ_BEGIN = prepared('bastion.authz-begin', 'select authz.begin($1, $2, $3, $4)');

/**
 * Every API transaction ends by releasing the session-level advisory locks of its connection, in the `commit` (or
 * `rollback`) round trip. Any role may take one, and one outlives its transaction: SQL injected into a request could
 * otherwise leave `pg_advisory_lock(<stream lock class>, hashtext('user-<victim>'))` on a pooled connection and stall
 * every append to the victim's stream (its sign-ins) for as long as the connection lives. The API itself takes none.
 */
export const RELEASE_SESSION_LOCKS = 'select pg_advisory_unlock_all()';

/**
 * The one way the API touches the database on behalf of a principal (DESIGN §4): one transaction whose first
 * statement is `authz.begin(session, proof, org, required)`. A revoked or expired session stops here, at its next
 * request. `required` lists permissions the route declares: a human who does not hold all of them in the org is
 * refused there (SQLSTATE BA005) before any work. Settings are transaction-local, so the pooled connection carries
 * no principal into the next request.
 */
export async function withPrincipal<T>(
  pool: Pool,
  session: SessionCredentials,
  orgId: string | null,
  work: (tx: PoolClient) => Promise<T>,
  required: readonly string[] = [],
): Promise<T> {
  return inTransaction(pool, work, {
    first: async (tx) => {
      try {
        await tx.query(AUTHZ_BEGIN.with([session.sessionId, session.proof, orgId, required.length ? [...required] : null]));
      } catch (error) {
        if ((error as { code?: string }).code === '28000') throw new SessionNotLiveError();
        throw error;
      }
    },
    alsoAtEnd: RELEASE_SESSION_LOCKS,
  });
}

/**
 * A transaction with no principal, for what happens before anyone is authenticated (sign-up, sign-in, email
 * links). Such a transaction can reach only the narrow pre-authentication definer functions. It opens with
 * `authz.begin_anonymous()`, in the same round trip as `begin`: the connection's request key is replaced, so a
 * principal's binding that injected SQL captured in an earlier request on this connection verifies nowhere here.
 */
export async function withoutPrincipal<T>(pool: Pool, work: (tx: PoolClient) => Promise<T>): Promise<T> {
  return inTransaction(pool, work, { alsoAtBegin: 'select authz.begin_anonymous()', alsoAtEnd: RELEASE_SESSION_LOCKS });
}
