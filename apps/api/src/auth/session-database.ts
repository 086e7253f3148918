import { Inject, Injectable } from '@nestjs/common';
import { type SessionCredentials, withoutPrincipal, withPrincipal } from '@bastion/infra/database/with-principal';
import { sessionProof } from '@bastion/infra/identity/session-proof';
import type { Pool, PoolClient } from 'pg';
import { APP_POOL, SERVER_SECRETS } from '../tokens';
import type { ServerSecrets } from '@bastion/infra/crypto/server-secrets';
import { ProblemError, problemType } from '../http/problem';
import type { Permission } from '@bastion/domain';
import type { AuthenticatedPrincipal } from './principal';
import type { BastionRequest } from './request-context';

export function forbidden(): ProblemError {
  return new ProblemError({ type: problemType('forbidden'), title: 'forbidden', status: 403 });
}

/** The API's only door to the database (a lint rule keeps the pool out of every other file of the API). */
@Injectable()
export class SessionDatabase {
  constructor(
    @Inject(APP_POOL) private readonly pool: Pool,
    @Inject(SERVER_SECRETS) private readonly secrets: ServerSecrets,
  ) {}

  credentials(principal: AuthenticatedPrincipal): SessionCredentials {
    return { sessionId: principal.sessionId, proof: sessionProof(this.secrets.sessionProofKey, principal.sessionId) };
  }

  /**
   * One transaction, opened by `authz.begin` for this principal's session (and org, when the route names one), which
   * also refuses a human without every `required` permission there (SQLSTATE BA005).
   */
  as<T>(
    principal: AuthenticatedPrincipal,
    orgId: string | null,
    work: (tx: PoolClient) => Promise<T>,
    required: readonly Permission[] = [],
  ): Promise<T> {
    return withPrincipal(this.pool, this.credentials(principal), orgId, work, required);
  }

  /**
   * An org-scoped transaction that first checks the requirement the route declares (`@Requires`, recorded on the
   * request by the authentication guard): the application's check; the definer functions and RLS policies check
   * again. The handler cannot name another one. Agents pass only where the route names one of their capabilities.
   * Fails closed (an error, 500) on a request that carries no declaration.
   */
  inOrg<T>(req: BastionRequest, orgId: string, work: (tx: PoolClient) => Promise<T>): Promise<T> {
    return this.#inOrg(req, orgId, undefined, work);
  }

  /**
   * {@link inOrg}, and one org permission more, for a step inside a route that asks more of the caller than the
   * route's declaration (removing another member on the leave-or-remove route; creating the org's data key). Never
   * instead of the declaration, and never for an agent. Each use is listed in the architecture test.
   */
  inOrgAlsoRequiring<T>(req: BastionRequest, orgId: string, permission: Permission, work: (tx: PoolClient) => Promise<T>): Promise<T> {
    return this.#inOrg(req, orgId, permission, work);
  }

  #inOrg<T>(req: BastionRequest, orgId: string, also: Permission | undefined, work: (tx: PoolClient) => Promise<T>): Promise<T> {
    const { principal, requirement } = req;
    if (!principal || !requirement) {
      return Promise.reject(new Error('SessionDatabase.inOrg: the request carries no declared @Requires (a public route, or outside the guard)'));
    }
    if (principal.type === 'agent') {
      // Refused inside the transaction, as before: a revoked agent session is told so (401) first.
      return this.as(principal, orgId, async (tx) => {
        if (!requirement.agentCapability || also !== undefined) throw forbidden();
        return work(tx);
      });
    }
    // authz.begin refuses a human who does not hold these in the org, in its own round trip; callers get the same
    // forbidden problem the application's check gave (some turn it into a more helpful answer).
    const required = [requirement.permission, also].filter((p): p is Permission => p !== undefined && p !== 'platform');
    return this.as(principal, orgId, work, required).catch((error: unknown) => {
      throw (error as { code?: string }).code === 'BA005' ? forbidden() : error;
    });
  }

  /**
   * The refresh fast path (one autocommit statement, no transaction): rotates the current token of a live session.
   * Null when the token is not the current one or the session is not live; the caller then takes the full path.
   */
  async rotateCurrent(sessionId: string, counter: number, graceUntil: Date, idleExpiresAt: Date) {
    const { rows } = await this.pool.query<{ principal_id: string; counter: string; amr: string[]; absolute_expires_at: Date }>(
      'select * from authz.rotate_current($1, $2, $3, $4)',
      [sessionId, counter, graceUntil, idleExpiresAt],
    );
    return rows[0] ?? null;
  }

  /** Before authentication: only the narrow pre-authentication functions answer. */
  anonymous<T>(work: (tx: PoolClient) => Promise<T>): Promise<T> {
    return withoutPrincipal(this.pool, work);
  }
}
