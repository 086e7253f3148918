import { Controller, Get, Param, ParseUUIDPipe, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import type { BastionRequest } from '../../auth/request-context';
import { Requires } from '../../auth/requires.decorator';
import { SessionDatabase } from '../../auth/session-database';

@ApiTags('agents')
@ApiBearerAuth()
@Controller('v1/orgs/:orgId/agents')
export class ListAgentsController {
  constructor(private readonly db: SessionDatabase) {}

  @Requires('agent:view')
  @Get()
  @ApiOkResponse({ description: '{agents: [{id, name, createdBy, createdAt, activeKeys}]}' })
  async list(@Param('orgId', new ParseUUIDPipe()) orgId: string, @Req() req: BastionRequest) {
    const rows = await this.db.inOrg(req, orgId, async (tx) =>
      (await tx.query('select * from agents where org_id = $1 order by created_at', [orgId])).rows,
    );
    return { agents: rows.map((r) => ({ id: r.agent_id, name: r.name, createdBy: r.created_by, createdAt: r.created_at, activeKeys: r.active_keys })) };
  }
}
