import { Body, Controller, Delete, HttpCode, Inject, Param, ParseUUIDPipe, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { type AgentKeyIssued, type AgentKeyRevoked, toNewEvents } from '@bastion/domain';
import type { ServerSecrets } from '@bastion/infra/crypto/server-secrets';
import { uuidv7 } from '@bastion/infra/ids/uuid-v7';
import { agentKeyMatches, generateAgentKey, parseAgentKey } from '@bastion/infra/identity/agent-key';
import { IdentityRepository } from '@bastion/infra/identity/identity.repository';
import { IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { unauthenticated } from '../../auth/authentication.guard';
import { Requires } from '../../auth/requires.decorator';
import { HumansOnly, Public } from '../../auth/public.decorator';
import { type BastionRequest, commandContext } from '../../auth/request-context';
import { SessionDatabase } from '../../auth/session-database';
import { ProblemError, problemType } from '../../http/problem';
import { AccessTokenResponse } from '../../identity/sign-in-with-password/sign-in-with-password.http.controller';
import { PersonalData } from '../../identity/personal-data/personal-data';
import { SessionIssuer } from '../../identity/session-issuer';
import { SERVER_SECRETS } from '../../tokens';

export class IssueAgentKeyRequest {
  @ApiPropertyOptional({ default: 90, minimum: 1, maximum: 365 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(365)
  expiresInDays?: number;
}

export class AgentTokenRequest {
  @ApiProperty({ example: 'bst_ak_…' })
  @IsString()
  @MaxLength(200)
  apiKey!: string;
}

const AGENT_TOKEN_SECONDS = 600;

@ApiTags('agents')
@Controller()
export class AgentKeysController {
  constructor(
    private readonly db: SessionDatabase,
    private readonly sessions: SessionIssuer,
    @Inject(SERVER_SECRETS) private readonly secrets: ServerSecrets,
    private readonly personal: PersonalData,
  ) {}

  /** `agent:credentials`. The key is shown once; only an HMAC of its secret is stored. */
  @HumansOnly()
  @Requires('agent:credentials')
  @ApiBearerAuth()
  @Post('v1/orgs/:orgId/agents/:agentId/keys')
  @HttpCode(201)
  @ApiCreatedResponse({ description: '{id, key, prefix, expiresAt}: the key appears in no other response.' })
  async issue(
    @Param('orgId', new ParseUUIDPipe()) orgId: string,
    @Param('agentId', new ParseUUIDPipe()) agentId: string,
    @Body() body: IssueAgentKeyRequest,
    @Req() req: BastionRequest,
  ) {
    const keyId = uuidv7();
    const issued = generateAgentKey(this.secrets.agentKeyHashKey);
    const expiresAt = new Date(Date.now() + (body.expiresInDays ?? 90) * 86_400_000);
    const [event] = toNewEvents<AgentKeyIssued>(
      [{ type: 'AgentKeyIssued', data: { agentId, orgId, keyId, prefix: issued.prefix, expiresAt: expiresAt.toISOString() } }],
      commandContext(req, { orgId }),
    );
    const ok = await this.db.inOrg(req, orgId, (tx) =>
      new IdentityRepository(tx).issueAgentKey({ orgId, agentId, keyId, prefix: issued.prefix, keyHash: issued.hash, expiresAt, event: event! }),
    );
    if (!ok) throw new ProblemError({ type: problemType('not-found'), title: 'no such agent', status: 404 });
    return { id: keyId, key: issued.key, prefix: issued.prefix, expiresAt: expiresAt.toISOString() };
  }

  /** Revokes a key; sessions already exchanged with it stop at their next request. */
  @HumansOnly()
  @Requires('agent:credentials')
  @ApiBearerAuth()
  @Delete('v1/orgs/:orgId/agents/:agentId/keys/:keyId')
  @HttpCode(204)
  @ApiNoContentResponse()
  async revoke(
    @Param('orgId', new ParseUUIDPipe()) orgId: string,
    @Param('agentId', new ParseUUIDPipe()) agentId: string,
    @Param('keyId', new ParseUUIDPipe()) keyId: string,
    @Req() req: BastionRequest,
  ): Promise<void> {
    const [event] = toNewEvents<AgentKeyRevoked>([{ type: 'AgentKeyRevoked', data: { agentId, orgId, keyId } }], commandContext(req, { orgId }));
    const ok = await this.db.inOrg(req, orgId, (tx) => new IdentityRepository(tx).revokeAgentKey(orgId, agentId, keyId, event!));
    if (!ok) throw new ProblemError({ type: problemType('not-found'), title: 'no such key', status: 404 });
  }

  /** Exchanges an agent key for a 10-minute access token (`sub_type: agent`, bound to the agent's org). No cookie. */
  @Public()
  @Post('v1/auth/agent-token')
  @HttpCode(200)
  @ApiOkResponse({ type: AccessTokenResponse })
  async exchange(@Body() body: AgentTokenRequest, @Req() req: BastionRequest): Promise<AccessTokenResponse> {
    const parsed = parseAgentKey(body.apiKey);
    if (!parsed) throw unauthenticated();
    // The agent's key seals the request's IP and user agent into SessionStarted; it is loaded before the transaction.
    const candidate = await this.db.anonymous((tx) => new IdentityRepository(tx).agentKeyLookup(parsed.prefix));
    if (candidate?.usable) await this.personal.prepare(req, candidate.agent_id);
    const started = await this.db.anonymous(async (tx) => {
      const found = await new IdentityRepository(tx).agentKeyLookup(parsed.prefix);
      if (!found || !found.usable || !agentKeyMatches(this.secrets.agentKeyHashKey, parsed.secret, found.key_hash)) return null;
      return this.sessions.start(tx, req, { type: 'agent', id: found.agent_id, orgId: found.org_id }, 'agent_key', ['agent_key'], {
        keyId: found.key_id,
        lifetimeSeconds: AGENT_TOKEN_SECONDS,
      });
    });
    if (!started) throw unauthenticated();
    return { accessToken: started.accessToken, tokenType: 'Bearer', expiresIn: started.expiresIn };
  }
}
