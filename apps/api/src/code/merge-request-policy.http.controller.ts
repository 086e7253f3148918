import { Body, Controller, Get, HttpCode, Param, ParseUUIDPipe, Put, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiNoContentResponse, ApiOkResponse, ApiProperty, ApiTags } from '@nestjs/swagger';
import { MAX_REQUIRED_APPROVALS, type MergeRequestPolicyChanged, mergeRequestPolicy, toNewEvents } from '@bastion/domain';
import { IsBoolean, IsInt, Max, Min } from 'class-validator';
import { HumansOnly } from '../auth/public.decorator';
import { type BastionRequest, commandContext } from '../auth/request-context';
import { Requires } from '../auth/requires.decorator';
import { SessionDatabase } from '../auth/session-database';

/**
 * The org's merge-request policy, and nothing else: how many human approvals a head needs (1 to 10 — 0 is refused)
 * and whether a passing test run on the current head is required before approval and merge. There is no field that
 * lets an agent approve or merge, or that skips approval; test/architecture fails if one appears.
 */
export class MergeRequestPolicyRequest {
  @ApiProperty({ minimum: 1, maximum: MAX_REQUIRED_APPROVALS, example: 1 })
  @IsInt()
  @Min(1)
  @Max(MAX_REQUIRED_APPROVALS)
  requiredApprovals!: number;

  @ApiProperty({ example: false, description: 'Require a passing test run on the current head before approval and merge.' })
  @IsBoolean()
  requirePassingTests!: boolean;
}

@ApiTags('code')
@ApiBearerAuth()
@Controller('v1/orgs/:orgId/settings/merge-requests')
export class MergeRequestPolicyController {
  constructor(private readonly db: SessionDatabase) {}

  @Requires('mr:view', 'mr:open')
  @Get()
  @ApiOkResponse({ description: '{requiredApprovals, requirePassingTests}' })
  async get(@Param('orgId', new ParseUUIDPipe()) orgId: string, @Req() req: BastionRequest) {
    const row = await this.db.inOrg(req, orgId, async (tx) =>
      (await tx.query<{ required_approvals: number; require_passing_tests: boolean }>('select * from authz.code_policy($1)', [orgId])).rows[0]!,
    );
    return { requiredApprovals: row.required_approvals, requirePassingTests: row.require_passing_tests };
  }

  /** An Admin (org:security) with a fresh MFA verification sets the policy; recorded as MergeRequestPolicyChanged. */
  @HumansOnly()
  @Requires('org:security')
  @Put()
  @HttpCode(204)
  @ApiNoContentResponse()
  async set(@Param('orgId', new ParseUUIDPipe()) orgId: string, @Body() body: MergeRequestPolicyRequest, @Req() req: BastionRequest): Promise<void> {
    const policy = mergeRequestPolicy(body);
    const [event] = toNewEvents<MergeRequestPolicyChanged>([{ type: 'MergeRequestPolicyChanged', data: { orgId, ...policy } }], commandContext(req, { orgId }));
    await this.db.inOrg(req, orgId, (tx) =>
      tx.query('select authz.set_code_policy($1, $2, $3, $4)', [orgId, policy.requiredApprovals, policy.requirePassingTests, event]),
    );
  }
}
