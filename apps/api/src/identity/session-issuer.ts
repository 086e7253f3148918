import { Inject, Injectable } from '@nestjs/common';
import { toNewEvents, type SessionStarted } from '@bastion/domain';
import { CONFIG, type Config } from '@bastion/infra/config/config';
import type { ServerSecrets } from '@bastion/infra/crypto/server-secrets';
import { uuidv7 } from '@bastion/infra/ids/uuid-v7';
import { IdentityRepository } from '@bastion/infra/identity/identity.repository';
import { encodeRefreshToken } from '@bastion/infra/identity/refresh-token';
import { sessionProofHash } from '@bastion/infra/identity/session-proof';
import type { PoolClient } from 'pg';
import { ACCESS_TOKENS, type AccessTokens } from '../auth/access-tokens';
import { type BastionRequest, clientOf, commandContext } from '../auth/request-context';
import { SERVER_SECRETS } from '../tokens';

export interface StartedSession {
  readonly accessToken: string;
  readonly expiresIn: number;
  readonly sessionId: string;
  /** Humans only: the first token of the family, for the cookie. */
  readonly refreshToken: string | null;
  readonly refreshMaxAge: number;
}

/** Every sign-in method ends here: one session row, one `SessionStarted`, one RS256 access token. */
@Injectable()
export class SessionIssuer {
  constructor(
    @Inject(CONFIG) private readonly config: Config,
    @Inject(SERVER_SECRETS) private readonly secrets: ServerSecrets,
    @Inject(ACCESS_TOKENS) private readonly tokens: AccessTokens,
  ) {}

  async start(
    tx: PoolClient,
    req: BastionRequest,
    principal: { type: 'human' | 'agent'; id: string; orgId: string | null },
    method: SessionStarted['data']['method'],
    amr: string[],
    extra: { keyId?: string; lifetimeSeconds?: number } = {},
  ): Promise<StartedSession> {
    const sessionId = uuidv7();
    const now = Date.now();
    const absoluteSeconds = extra.lifetimeSeconds ?? this.config.SESSION_ABSOLUTE_SECONDS;
    const idleSeconds = Math.min(this.config.SESSION_IDLE_SECONDS, absoluteSeconds);
    const ctx = commandContext(req, {
      actor: { type: principal.type, id: principal.id },
      orgId: principal.orgId,
      authMethod: method,
      sessionId,
    });
    const [event] = toNewEvents<SessionStarted>(
      [
        {
          type: 'SessionStarted',
          data: { sessionId, principalType: principal.type, principalId: principal.id, method, amr, ...(extra.keyId ? { keyId: extra.keyId } : {}) },
        },
      ],
      ctx,
    );
    await new IdentityRepository(tx).startSession({
      sessionId,
      principalType: principal.type,
      principalId: principal.id,
      orgId: principal.orgId,
      amr,
      proofHash: sessionProofHash(this.secrets.sessionProofKey, sessionId),
      idleExpiresAt: new Date(now + idleSeconds * 1000),
      absoluteExpiresAt: new Date(now + absoluteSeconds * 1000),
      // The sessions table (mutable, erasable, listed to the user) keeps them in plaintext; the event only sealed.
      ...clientOf(req),
      event: event!,
    });
    const access = await this.tokens.issue({ type: principal.type, id: principal.id, sessionId, amr, orgId: principal.orgId });
    return {
      accessToken: access.token,
      expiresIn: access.expiresIn,
      sessionId,
      refreshToken: principal.type === 'human' ? encodeRefreshToken(this.secrets.refreshTokenKey, { sessionId, counter: 0 }) : null,
      refreshMaxAge: absoluteSeconds,
    };
  }
}
