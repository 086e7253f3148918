import { Controller, Delete, Get, HttpCode, Inject, Param, ParseUUIDPipe, Post, Req, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiNoContentResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { type RefreshTokenReuseDetected, type SessionRevoked, toNewEvents } from '@bastion/domain';
import { decideRefresh } from '@bastion/domain/identity/refresh-decision';
import { CONFIG, type Config } from '@bastion/infra/config/config';
import type { ServerSecrets } from '@bastion/infra/crypto/server-secrets';
import { IdentityRepository } from '@bastion/infra/identity/identity.repository';
import { decodeRefreshToken, encodeRefreshToken } from '@bastion/infra/identity/refresh-token';
import type { JsonLogger } from '@bastion/infra/runtime/logger';
import type { Response } from 'express';
import { ACCESS_TOKENS, type AccessTokens } from '../../auth/access-tokens';
import { unauthenticated } from '../../auth/authentication.guard';
import { BrowserCredentialsGuard } from '../../auth/browser-credentials.guard';
import { Requires } from '../../auth/requires.decorator';
import { HumansOnly, Public } from '../../auth/public.decorator';
import { clearRefreshCookie, readRefreshCookie, setRefreshCookie } from '../../auth/refresh-cookie';
import { type BastionRequest, commandContext } from '../../auth/request-context';
import { SessionDatabase } from '../../auth/session-database';
import { ProblemError, problemType } from '../../http/problem';
import { LOGGER, SERVER_SECRETS } from '../../tokens';
import { PersonalData } from '../personal-data/personal-data';
import { AccessTokenResponse } from '../sign-in-with-password/sign-in-with-password.http.controller';

type RefreshOutcome =
  | { kind: 'issue'; counter: number; state: NonNullable<Awaited<ReturnType<IdentityRepository['refreshState']>>> }
  | { kind: 'reuse' | 'refuse' }
  /** A reuse to record, for a person whose key this request has not loaded yet (never inside the transaction). */
  | { kind: 'needs-person-key'; principalId: string };

@ApiTags('auth')
@Controller('v1/auth')
export class RefreshSessionController {
  constructor(
    private readonly db: SessionDatabase,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(SERVER_SECRETS) private readonly secrets: ServerSecrets,
    @Inject(ACCESS_TOKENS) private readonly tokens: AccessTokens,
    @Inject(LOGGER) private readonly logger: JsonLogger,
    private readonly personal: PersonalData,
  ) {}

  /**
   * Rotates the refresh token in the cookie. The token just rotated away returns the same successor for 10 s; any
   * older one revokes the whole family and records `RefreshTokenReuseDetected`.
   */
  @Public()
  @UseGuards(BrowserCredentialsGuard)
  @Post('refresh')
  @HttpCode(200)
  @ApiOkResponse({ type: AccessTokenResponse })
  async refresh(@Req() req: BastionRequest, @Res({ passthrough: true }) res: Response): Promise<AccessTokenResponse> {
    const presented = readRefreshCookie(req);
    const claims = presented ? decodeRefreshToken(this.secrets.refreshTokenKey, presented) : null;
    if (!claims) throw unauthenticated();
    const now = new Date();
    // Fast path, one statement: the current token of a live session rotates.
    const fast = await this.db.rotateCurrent(
      claims.sessionId,
      claims.counter,
      new Date(now.getTime() + this.config.REFRESH_GRACE_SECONDS * 1000),
      new Date(now.getTime() + this.config.SESSION_IDLE_SECONDS * 1000),
    );
    if (fast) {
      const access = await this.tokens.issue({ type: 'human', id: fast.principal_id, sessionId: claims.sessionId, amr: fast.amr, orgId: null });
      const maxAge = (fast.absolute_expires_at.getTime() - now.getTime()) / 1000;
      setRefreshCookie(res, encodeRefreshToken(this.secrets.refreshTokenKey, { sessionId: claims.sessionId, counter: Number(fast.counter) }), maxAge);
      return { accessToken: access.token, tokenType: 'Bearer', expiresIn: access.expiresIn };
    }
    // The full path. A reuse is recorded with the request's IP address and user agent sealed for the session's
    // owner: when their key is not in memory, the transaction ends without a change, the key is loaded outside any
    // transaction, and the decision is taken again.
    let outcome = await this.decide(req, claims, now, false);
    if (outcome.kind === 'needs-person-key') {
      await this.personal.prepareOrWarn(req, outcome.principalId);
      outcome = await this.decide(req, claims, now, true);
    }
    if (outcome.kind !== 'issue') {
      if (outcome.kind === 'reuse') this.logger.event('warn', 'refresh token reuse: session revoked', { sessionId: claims.sessionId });
      clearRefreshCookie(res);
      throw unauthenticated();
    }
    const access = await this.tokens.issue({
      type: 'human',
      id: outcome.state.principal_id,
      sessionId: claims.sessionId,
      amr: outcome.state.amr,
      orgId: null,
    });
    const maxAge = (outcome.state.absolute_expires_at.getTime() - now.getTime()) / 1000;
    setRefreshCookie(res, encodeRefreshToken(this.secrets.refreshTokenKey, { sessionId: claims.sessionId, counter: outcome.counter }), maxAge);
    return { accessToken: access.token, tokenType: 'Bearer', expiresIn: access.expiresIn };
  }

  /** One transaction of the full refresh path; with `keyLoaded`, a reuse is recorded whether or not the key came. */
  private decide(req: BastionRequest, claims: { sessionId: string; counter: number }, now: Date, keyLoaded: boolean): Promise<RefreshOutcome> {
    return this.db.anonymous(async (tx): Promise<RefreshOutcome> => {
      const repo = new IdentityRepository(tx);
      const state = await repo.refreshState(claims.sessionId);
      if (!state) return { kind: 'refuse' as const };
      const decision = decideRefresh(
        {
          counter: Number(state.counter),
          graceUntil: state.grace_until,
          revoked: state.revoked,
          idleExpiresAt: state.idle_expires_at,
          absoluteExpiresAt: state.absolute_expires_at,
        },
        claims.counter,
        now,
      );
      switch (decision.kind) {
        case 'rotate': {
          const moved = await repo.rotateSession(
            claims.sessionId,
            decision.fromCounter,
            new Date(now.getTime() + this.config.REFRESH_GRACE_SECONDS * 1000),
            new Date(now.getTime() + this.config.SESSION_IDLE_SECONDS * 1000),
          );
          // Lost the compare-and-set to a concurrent refresh of the same token: that one's successor is ours too.
          return { kind: 'issue' as const, counter: moved ? decision.toCounter : decision.fromCounter + 1, state };
        }
        case 'same-successor':
          return { kind: 'issue' as const, counter: decision.counter, state };
        case 'reuse': {
          const owner = state.principal_id.toLowerCase();
          if (!keyLoaded && !this.personal.pin(req, owner)) return { kind: 'needs-person-key' as const, principalId: owner };
          const [event] = toNewEvents<RefreshTokenReuseDetected>(
            [{ type: 'RefreshTokenReuseDetected', data: { sessionId: claims.sessionId, presentedCounter: decision.presented, currentCounter: decision.current } }],
            commandContext(req, { actor: { type: 'system', id: 'bastion' }, sessionId: claims.sessionId, personSubject: owner }),
          );
          await repo.revokeSession(claims.sessionId, 'refresh_token_reuse', event!);
          return { kind: 'reuse' as const };
        }
        case 'refuse':
          return { kind: 'refuse' as const };
      }
    });
  }

  /** Ends the session of the refresh cookie (the family is revoked; its access tokens stop at their next request). */
  @Public()
  @UseGuards(BrowserCredentialsGuard)
  @Post('logout')
  @HttpCode(204)
  @ApiNoContentResponse()
  async logout(@Req() req: BastionRequest, @Res({ passthrough: true }) res: Response): Promise<void> {
    const presented = readRefreshCookie(req);
    const claims = presented ? decodeRefreshToken(this.secrets.refreshTokenKey, presented) : null;
    clearRefreshCookie(res);
    if (!claims) return;
    // The session's owner is the actor (authz.revoke_session records it) and the person the request data is sealed
    // for; an unknown or already revoked session records nothing, so needs no key.
    const session = await this.db.anonymous((tx) => new IdentityRepository(tx).refreshState(claims.sessionId));
    const owner = session && !session.revoked ? session.principal_id.toLowerCase() : null;
    if (owner !== null && !this.personal.pin(req, owner)) await this.personal.prepareOrWarn(req, owner);
    const [event] = toNewEvents<SessionRevoked>(
      [{ type: 'SessionRevoked', data: { sessionId: claims.sessionId, reason: 'logout' } }],
      commandContext(req, { sessionId: claims.sessionId, personSubject: owner }),
    );
    await this.db.anonymous((tx) => new IdentityRepository(tx).revokeSession(claims.sessionId, 'logout', event!));
  }

  @HumansOnly()
  @Requires('platform')
  @ApiBearerAuth()
  @Get('sessions')
  @ApiOkResponse({ description: 'The caller’s live sessions.' })
  async list(@Req() req: BastionRequest) {
    const rows = await this.db.as(req.principal!, null, (tx) => new IdentityRepository(tx).mySessions());
    return {
      sessions: rows.map((r) => ({
        id: r.id,
        createdAt: r.created_at,
        lastRefreshedAt: r.rotated_at,
        methods: r.amr,
        ip: r.ip,
        userAgent: r.user_agent,
        current: r.current,
      })),
    };
  }

  @HumansOnly()
  @Requires('platform')
  @ApiBearerAuth()
  @Delete('sessions/:id')
  @HttpCode(204)
  @ApiNoContentResponse()
  async revoke(@Param('id', new ParseUUIDPipe({ version: undefined })) id: string, @Req() req: BastionRequest): Promise<void> {
    const [event] = toNewEvents<SessionRevoked>([{ type: 'SessionRevoked', data: { sessionId: id, reason: 'revoked_by_user' } }], commandContext(req));
    const revoked = await this.db.as(req.principal!, null, (tx) => new IdentityRepository(tx).revokeMySession(id, event!));
    if (!revoked) throw new ProblemError({ type: problemType('not-found'), title: 'no such session', status: 404 });
  }
}
