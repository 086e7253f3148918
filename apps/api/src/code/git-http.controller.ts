import { All, Body, Controller, HttpCode, Inject, Post, Req, Res } from '@nestjs/common';
import { ApiExcludeEndpoint } from '@nestjs/swagger';
import { type MergeRequestEvent, mergeRequestDecider, fold, type PushAccepted, type PushRefused, toNewEvents } from '@bastion/domain';
import { CONFIG, type Config } from '@bastion/infra/config/config';
import { PostgresEventStore } from '@bastion/infra/event-store/postgres/postgres-event-store.adapter';
import { decidePush, type RefUpdate } from '@bastion/infra/git/push-policy';
import { parseGitHttpRoute, serveGitHttp } from '@bastion/infra/git/smart-http';
import { agentKeyMatches, parseAgentKey } from '@bastion/infra/identity/agent-key';
import { IdentityRepository } from '@bastion/infra/identity/identity.repository';
import type { ServerSecrets } from '@bastion/infra/crypto/server-secrets';
import type { JsonLogger } from '@bastion/infra/runtime/logger';
import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsBoolean, IsString, MaxLength, ValidateNested } from 'class-validator';
import type { Response } from 'express';
import type Redis from 'ioredis';
import { ACCESS_TOKENS, type AccessTokens } from '../auth/access-tokens';
import type { AuthenticatedPrincipal } from '../auth/principal';
import { Public } from '../auth/public.decorator';
import { type BastionRequest, commandContext } from '../auth/request-context';
import { SessionDatabase } from '../auth/session-database';
import { PersonalData } from '../identity/personal-data/personal-data';
import { SessionIssuer } from '../identity/session-issuer';
import { LOGGER, REDIS, SERVER_SECRETS } from '../tokens';
import { hookUrl, reposRoot } from './code.settings';
import { mintPushToken, redeemPushToken } from './push-tokens';

const MAX_PUSH_BYTES = 100 * 1024 * 1024;
/** More updates than this in one push are refused whole (400: the hook then refuses the push), never cut short. */
const MAX_REF_UPDATES = 1000;

/**
 * One ref update as the pre-receive hook sends it. Only the shape is checked here (a malformed body is refused with
 * 400 before anything is redeemed or recorded); whether a well-typed update is well-formed and allowed is the push
 * policy's decision, recorded as an event.
 */
export class RefUpdateRequest implements RefUpdate {
  @IsString()
  @MaxLength(1024)
  ref!: string;

  @IsString()
  @MaxLength(64)
  oldSha!: string;

  @IsString()
  @MaxLength(64)
  newSha!: string;

  @IsBoolean()
  isFastForward!: boolean;
}

export class PreReceiveRequest {
  @IsArray()
  @ArrayMaxSize(MAX_REF_UPDATES)
  @ValidateNested({ each: true })
  @Type(() => RefUpdateRequest)
  updates!: RefUpdateRequest[];
}

/**
 * Git smart HTTP at `/git/<org>/<repo>.git` (the real `git http-backend`), behind Bastion's own authentication:
 * HTTP Basic with an access token or an agent key as the password. Every push carries a one-time token that the
 * repository's pre-receive hook presents to `/internal/git/pre-receive`; the hook fails closed without an answer.
 */
@Controller()
export class GitHttpController {
  constructor(
    private readonly db: SessionDatabase,
    private readonly sessions: SessionIssuer,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(ACCESS_TOKENS) private readonly tokens: AccessTokens,
    @Inject(SERVER_SECRETS) private readonly secrets: ServerSecrets,
    @Inject(LOGGER) private readonly logger: JsonLogger,
    private readonly personal: PersonalData,
  ) {}

  private challenge(res: Response, status = 401): void {
    res.status(status).setHeader('WWW-Authenticate', 'Basic realm="Bastion", charset="UTF-8"');
    res.type('text/plain').send(status === 401 ? 'authentication required\n' : 'forbidden\n');
  }

  /** The password is an access token, or an agent key (exchanged here for a 10-minute agent session). */
  private async authenticate(req: BastionRequest): Promise<AuthenticatedPrincipal | null> {
    const match = /^Basic ([A-Za-z0-9+/=]+)$/.exec(req.header('authorization') ?? '');
    if (!match) return null;
    const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
    const password = decoded.slice(decoded.indexOf(':') + 1);
    const agentKey = parseAgentKey(password);
    if (agentKey) {
      // The agent's key seals the request's IP and user agent into SessionStarted; it is loaded before the transaction.
      const candidate = await this.db.anonymous((tx) => new IdentityRepository(tx).agentKeyLookup(agentKey.prefix));
      if (candidate?.usable) await this.personal.prepare(req, candidate.agent_id);
      const started = await this.db.anonymous(async (tx) => {
        const found = await new IdentityRepository(tx).agentKeyLookup(agentKey.prefix);
        if (!found || !found.usable || !agentKeyMatches(this.secrets.agentKeyHashKey, agentKey.secret, found.key_hash)) return null;
        const session = await this.sessions.start(tx, req, { type: 'agent', id: found.agent_id, orgId: found.org_id }, 'agent_key', ['agent_key'], {
          keyId: found.key_id,
          lifetimeSeconds: 600,
        });
        return { type: 'agent' as const, id: found.agent_id, sessionId: session.sessionId, amr: ['agent_key'], orgId: found.org_id };
      });
      return started;
    }
    try {
      return await this.tokens.verify(password);
    } catch {
      return null;
    }
  }

  @Public()
  @All('git/*path')
  @ApiExcludeEndpoint()
  async git(@Req() req: BastionRequest, @Res() res: Response): Promise<void> {
    const path = req.path.slice('/git'.length);
    const query = req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?') + 1) : '';
    const route = parseGitHttpRoute(req.method, path, query);
    if (!route) {
      res.status(404).type('text/plain').send('not found\n');
      return;
    }
    const principal = await this.authenticate(req);
    if (!principal) return this.challenge(res);
    let access: string | null;
    try {
      access = await this.db.as(principal, route.orgId, async (tx) =>
        (await tx.query<{ access: string | null }>('select authz.repo_access($1) as access', [route.repoId])).rows[0]!.access,
      );
    } catch {
      return this.challenge(res, 403);
    }
    if (!access || (route.isPush && access !== 'push')) return this.challenge(res, 403);
    const push = route.isPush
      ? { hookUrl: hookUrl(this.config), token: await mintPushToken(this.redis, this.config.REDIS_PREFIX, { principal, orgId: route.orgId, repoId: route.repoId }) }
      : undefined;
    const result = await serveGitHttp(
      { method: req.method, path, query, headers: req.headers, body: req, remoteAddress: req.ip ?? '' },
      res,
      { projectRoot: reposRoot(this.config), remoteUser: `${principal.type}:${principal.id}`, push, maxPushBytes: MAX_PUSH_BYTES },
    );
    if (result.status >= 400) this.logger.event('warn', 'git http-backend', { status: result.status, stderr: result.stderr.slice(0, 500) });
  }

  /**
   * The pre-receive hook's question. One refused ref refuses the whole push. Every push, accepted or refused, is an
   * event; an accepted push to a merge request's source branch moves its head (voiding approvals of the old one).
   */
  @Public()
  @Post('internal/git/pre-receive')
  @HttpCode(200)
  @ApiExcludeEndpoint()
  async preReceive(@Req() req: BastionRequest, @Body() body: PreReceiveRequest): Promise<{ allowed: boolean; message: string }> {
    const token = /^Bearer (.+)$/.exec(req.header('authorization') ?? '')?.[1] ?? '';
    const grant = await redeemPushToken(this.redis, this.config.REDIS_PREFIX, token);
    if (!grant) return { allowed: false, message: 'push refused: no valid push token' };
    const updates: RefUpdate[] = body.updates;
    const decision = decidePush({ type: grant.principal.type, id: grant.principal.id }, updates);
    const ctx = commandContext(req, { actor: { type: grant.principal.type, id: grant.principal.id }, orgId: grant.orgId, sessionId: grant.principal.sessionId });
    const recorded = updates.map(({ ref, oldSha, newSha }) => ({ ref, oldSha, newSha }));
    await this.db.as(grant.principal, grant.orgId, async (tx) => {
      const store = new PostgresEventStore(tx);
      const events = decision.allowed
        ? toNewEvents<PushAccepted>([{ type: 'PushAccepted', data: { repoId: grant.repoId, updates: recorded } }], ctx)
        : toNewEvents<PushRefused>([{ type: 'PushRefused', data: { repoId: grant.repoId, updates: recorded, reason: decision.message } }], ctx);
      await store.append(`repo-${grant.repoId}`, events, 'any');
      if (!decision.allowed) return;
      for (const update of updates) {
        if (!update.ref.startsWith('refs/heads/') || /^0{40}$/.test(update.newSha)) continue;
        const branch = update.ref.slice('refs/heads/'.length);
        const open = await tx.query<{ mr_id: string }>(
          "select mr_id from merge_requests where org_id = $1 and repo_id = $2 and source_branch = $3 and state = 'open'",
          [grant.orgId, grant.repoId, branch],
        );
        for (const { mr_id } of open.rows) {
          const stream = `mr-${mr_id}`;
          const history = await store.readStream(stream);
          const decided = mergeRequestDecider.decide(
            { type: 'UpdateHead', data: { headSha: update.newSha, pushedBy: { type: grant.principal.type, id: grant.principal.id } } },
            fold(mergeRequestDecider, history as unknown as MergeRequestEvent[]),
          );
          if (decided.length) await store.append(stream, toNewEvents(decided, ctx), history.length - 1);
        }
      }
    });
    return { allowed: decision.allowed, message: decision.message };
  }
}
