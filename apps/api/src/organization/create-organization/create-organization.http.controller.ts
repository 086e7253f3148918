import { Body, Controller, HttpCode, Inject, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiProperty, ApiTags } from '@nestjs/swagger';
import { type MemberAdded, organizationDecider, toNewEvents } from '@bastion/domain';
import { uuidv7 } from '@bastion/infra/ids/uuid-v7';
import type { OrgKeyService } from '@bastion/infra/crypto/org-keys';
import { IdentityRepository } from '@bastion/infra/identity/identity.repository';
import type { JsonLogger } from '@bastion/infra/runtime/logger';
import { IsString, Length } from 'class-validator';
import { Requires } from '../../auth/requires.decorator';
import { HumansOnly } from '../../auth/public.decorator';
import { type BastionRequest, commandContext } from '../../auth/request-context';
import { SessionDatabase } from '../../auth/session-database';
import { ORG_KEY_SERVICE } from '../../security/security.tokens';
import { LOGGER } from '../../tokens';

export class CreateOrganizationRequest {
  @ApiProperty({ example: 'Acme' })
  @IsString()
  @Length(1, 100)
  name!: string;
}

@ApiTags('organizations')
@Controller('v1/orgs')
export class CreateOrganizationController {
  constructor(
    private readonly db: SessionDatabase,
    @Inject(ORG_KEY_SERVICE) private readonly keys: OrgKeyService,
    @Inject(LOGGER) private readonly logger: JsonLogger,
  ) {}

  /**
   * A signed-in human creates an organisation and becomes its Admin at once (write-side security state), and the
   * organisation gets its data key (DESIGN §9), wrapped under the platform key until it brings its own.
   */
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
    try {
      await this.keys.ensureDataKey((work) => this.db.inOrgAlsoRequiring(req, orgId, 'org:security', work), orgId, (event) =>
        toNewEvents([event], commandContext(req, { orgId }))[0]!,
      );
    } catch (error) {
      // The organisation exists; its Admin's first write of a sensitive field creates the key instead.
      this.logger.event('warn', 'organisation created without a data key', { orgId, error });
    }
    return { id: orgId };
  }
}
