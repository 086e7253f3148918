import { Body, Controller, HttpCode, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiProperty, ApiTags } from '@nestjs/swagger';
import { type MemberAdded, organizationDecider, toNewEvents } from '@bastion/domain';
import { uuidv7 } from '@bastion/infra/ids/uuid-v7';
import { IdentityRepository } from '@bastion/infra/identity/identity.repository';
import { IsString, Length } from 'class-validator';
import { Requires } from '../../auth/requires.decorator';
import { HumansOnly } from '../../auth/public.decorator';
import { type BastionRequest, commandContext } from '../../auth/request-context';
import { SessionDatabase } from '../../auth/session-database';

export class CreateOrganizationRequest {
  @ApiProperty({ example: 'Acme' })
  @IsString()
  @Length(1, 100)
  name!: string;
}

@ApiTags('organizations')
@Controller('v1/orgs')
export class CreateOrganizationController {
  constructor(private readonly db: SessionDatabase) {}

  /** A signed-in human creates an organisation and becomes its Admin at once (write-side security state). */
  @HumansOnly()
  @Requires('platform')
  @ApiBearerAuth()
  @Post()
  @HttpCode(201)
  @ApiCreatedResponse({ description: 'Created; the caller is its Admin.' })
  async create(@Body() body: CreateOrganizationRequest, @Req() req: BastionRequest): Promise<{ id: string }> {
    const orgId = uuidv7();
    const principal = req.principal!;
    const decided = organizationDecider.decide(
      { type: 'CreateOrganization', data: { orgId, name: body.name, createdBy: principal.id, providerId: null } },
      organizationDecider.initialState(),
    );
    const added: MemberAdded = { type: 'MemberAdded', data: { orgId, userId: principal.id, role: 'admin' } };
    const events = toNewEvents([...decided, added], commandContext(req, { orgId }));
    await this.db.as(principal, null, (tx) => new IdentityRepository(tx).createOrganization(orgId, events));
    return { id: orgId };
  }
}
