import { Inject, Injectable } from '@nestjs/common';
import { type SessionCredentials, withoutPrincipal, withPrincipal } from '@bastion/infra/database/with-principal';
import { sessionProof } from '@bastion/infra/identity/session-proof';
import type { Pool, PoolClient } from 'pg';
import { APP_POOL, SERVER_SECRETS } from '../tokens';
import type { ServerSecrets } from '@bastion/infra/crypto/server-secrets';
import type { AuthenticatedPrincipal } from './principal';

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

  /** One transaction, opened by `authz.begin` for this principal's session (and org, when the route names one). */
  as<T>(principal: AuthenticatedPrincipal, orgId: string | null, work: (tx: PoolClient) => Promise<T>): Promise<T> {
    return withPrincipal(this.pool, this.credentials(principal), orgId, work);
  }

  /** Before authentication: only the narrow pre-authentication functions answer. */
  anonymous<T>(work: (tx: PoolClient) => Promise<T>): Promise<T> {
    return withoutPrincipal(this.pool, work);
  }
}
