import { Body, Controller, Get, HttpCode, Inject, Param, ParseUUIDPipe, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiProperty, ApiTags } from '@nestjs/swagger';
import { type AgentGrantedRepoAccess, type RepositoryCreated, toNewEvents } from '@bastion/domain';
import { CONFIG, type Config, publicUrlOf } from '@bastion/infra/config/config';
import { createRepository } from '@bastion/infra/git/repository-store';
import { uuidv7 } from '@bastion/infra/ids/uuid-v7';
import { IsString, IsUUID, Matches } from 'class-validator';
import { HumansOnly } from '../auth/public.decorator';
import { type BastionRequest, commandContext } from '../auth/request-context';
import { Requires } from '../auth/requires.decorator';
import { SessionDatabase } from '../auth/session-database';
import { ProblemError, problemType } from '../http/problem';
import { reposRoot } from './code.settings';

export class CreateRepoRequest {
  @ApiProperty({ example: 'service' }) @IsString() @Matches(/^[a-z0-9][a-z0-9._-]{0,63}$/, { message: 'lowercase letters, digits, ".", "_" or "-", up to 64' }) name!: string;
}

export class GrantAgentRequest {
  @ApiProperty() @IsUUID() agentId!: string;
}

@ApiTags('code')
@ApiBearerAuth()
@Controller('v1/orgs/:orgId/repos')
export class ReposController {
  constructor(
    private readonly db: SessionDatabase,
    @Inject(CONFIG) private readonly config: Config,
  ) {}

  /** Creates a bare repository with an initial commit on `main`, served over git smart HTTP at `cloneUrl`. */
  @HumansOnly()
  @Requires('repo:create')
  @Post()
  @HttpCode(201)
  @ApiCreatedResponse({ description: '{id, name, cloneUrl}' })
  async create(@Param('orgId', new ParseUUIDPipe()) orgId: string, @Body() body: CreateRepoRequest, @Req() req: BastionRequest) {
    const repoId = uuidv7();
    // The permission is checked before anything touches the disk; the row and the event commit after.
    await this.db.inOrg(req, orgId, async () => undefined);
    const created = await createRepository(reposRoot(this.config), orgId, repoId, {
      defaultBranch: 'main',
      initialCommit: { authorName: 'Bastion', authorEmail: 'bastion@localhost', message: 'Initial commit', date: new Date(), files: { 'README.md': `# ${body.name}\n` } },
    });
    const [event] = toNewEvents<RepositoryCreated>(
      [{ type: 'RepositoryCreated', data: { repoId, orgId, name: body.name, defaultBranch: 'main', initialCommit: created.mainCommit } }],
      commandContext(req, { orgId }),
    );
    await this.db.inOrg(req, orgId, (tx) =>
      tx.query('select authz.create_repository($1, $2, $3, $4)', [orgId, repoId, body.name, event]),
    );
    return { id: repoId, name: body.name, cloneUrl: `${publicUrlOf(this.config)}/git/${orgId}/${repoId}.git` };
  }

  /** repo:create grants an agent access: it may then push `agent/<its id>/*` branches, nothing else. */
  @HumansOnly()
  @Requires('repo:create')
  @Post(':repoId/agents')
  @HttpCode(204)
  @ApiNoContentResponse()
  async grant(
    @Param('orgId', new ParseUUIDPipe()) orgId: string,
    @Param('repoId', new ParseUUIDPipe()) repoId: string,
    @Body() body: GrantAgentRequest,
    @Req() req: BastionRequest,
  ): Promise<void> {
    const [event] = toNewEvents<AgentGrantedRepoAccess>([{ type: 'AgentGrantedRepoAccess', data: { repoId, agentId: body.agentId } }], commandContext(req, { orgId }));
    const ok = await this.db.inOrg(req, orgId, async (tx) =>
      (await tx.query<{ ok: boolean }>('select authz.grant_repo_agent($1, $2, $3, $4) as ok', [orgId, repoId, body.agentId, event])).rows[0]!.ok,
    );
    if (!ok) throw new ProblemError({ type: problemType('not-found'), title: 'no such repository or agent', status: 404 });
  }

  @Requires('repo:view', 'code:push_agent_branch')
  @Get()
  @ApiOkResponse({ description: '{repositories: [{id, name, cloneUrl}]}' })
  async list(@Param('orgId', new ParseUUIDPipe()) orgId: string, @Req() req: BastionRequest) {
    const rows = await this.db.inOrg(req, orgId, async (tx) =>
      (await tx.query('select repo_id, name, created_at from repositories where org_id = $1 order by created_at', [orgId])).rows,
    );
    return { repositories: rows.map((r) => ({ id: r.repo_id, name: r.name, createdAt: r.created_at, cloneUrl: `${publicUrlOf(this.config)}/git/${orgId}/${r.repo_id}.git` })) };
  }
}
