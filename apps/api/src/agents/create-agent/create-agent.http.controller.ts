import { Body, Controller, HttpCode, Param, ParseUUIDPipe, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiProperty, ApiTags } from '@nestjs/swagger';
import { type AgentCreated, toNewEvents } from '@bastion/domain';
import { uuidv7 } from '@bastion/infra/ids/uuid-v7';
import { IdentityRepository } from '@bastion/infra/identity/identity.repository';
import { IsString, Length, Matches } from 'class-validator';
import { Requires } from '../../auth/requires.decorator';
import { HumansOnly } from '../../auth/public.decorator';
import { type BastionRequest, commandContext } from '../../auth/request-context';
import { SessionDatabase } from '../../auth/session-database';

export class CreateAgentRequest {
  @ApiProperty({ example: 'build-bot' })
  @IsString()
  @Length(1, 80)
  @Matches(/^[^\p{Cc}]+$/u, { message: 'must not contain control characters' })
  name!: string;
}

@ApiTags('agents')
@Controller('v1/orgs/:orgId/agents')
export class CreateAgentController {
  constructor(private readonly db: SessionDatabase) {}

  /** `agent:create`: checked first by `inOrg` (the declaration), then again by the definer function, in the same transaction. */
  @HumansOnly()
  @Requires('agent:create')
  @ApiBearerAuth()
  @Post()
  @HttpCode(201)
  @ApiCreatedResponse({ description: 'The agent exists; issue it a key next.' })
  async create(
    @Param('orgId', new ParseUUIDPipe()) orgId: string,
    @Body() body: CreateAgentRequest,
    @Req() req: BastionRequest,
  ): Promise<{ id: string }> {
    const agentId = uuidv7();
    const [event] = toNewEvents<AgentCreated>([{ type: 'AgentCreated', data: { agentId, orgId, name: body.name.trim() } }], commandContext(req, { orgId }));
    await this.db.inOrg(req, orgId, (tx) => new IdentityRepository(tx).createAgent(orgId, agentId, body.name.trim(), event!));
    return { id: agentId };
  }
}
