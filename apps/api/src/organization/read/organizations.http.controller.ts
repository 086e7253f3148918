import { Controller, Get, Param, ParseUUIDPipe, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { HumansOnly } from '../../auth/public.decorator';
import type { BastionRequest } from '../../auth/request-context';
import { Requires } from '../../auth/requires.decorator';
import { SessionDatabase } from '../../auth/session-database';
import { ProblemError, problemType } from '../../http/problem';

@ApiTags('organizations')
@ApiBearerAuth()
@Controller('v1/orgs')
export class OrganizationsController {
  constructor(private readonly db: SessionDatabase) {}

  /** The organisations the caller can see (its memberships, and a Provider Admin's provider). */
  @HumansOnly()
  @Requires('platform')
  @Get()
  @ApiOkResponse({ description: '{organizations: [{id, name, createdAt}]}' })
  async list(@Req() req: BastionRequest) {
    const rows = await this.db.as(req.principal!, null, async (tx) =>
      (
        await tx.query(
          `select org_id, name, created_at from organizations
            where org_id = any ((select authz.orgs_with_permission('team:view'))::uuid[]) order by created_at`,
        )
      ).rows,
    );
    return { organizations: rows.map((r) => ({ id: r.org_id, name: r.name, createdAt: r.created_at })) };
  }

  @Requires('team:view')
  @Get(':orgId')
  @ApiOkResponse({ description: '{id, name, createdAt, provisioned}' })
  async get(@Param('orgId', new ParseUUIDPipe()) orgId: string, @Req() req: BastionRequest) {
    const row = await this.db.inOrg(req, orgId, async (tx) =>
      (await tx.query('select org_id, name, created_at, provisioned_at from organizations where org_id = $1', [orgId])).rows[0],
    );
    if (!row) throw new ProblemError({ type: problemType('not-found'), title: 'no such organisation (yet)', status: 404 });
    return { id: row.org_id, name: row.name, createdAt: row.created_at, provisioned: row.provisioned_at !== null };
  }
}
