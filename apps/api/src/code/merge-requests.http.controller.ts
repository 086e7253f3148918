import { Body, Controller, Get, HttpCode, Inject, Param, ParseUUIDPipe, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import {
  fold,
  type MergeRequestCommand,
  mergeRequestDecider,
  type MergeRequestEvent,
  MergeRequestNotFoundError,
  toNewEvents,
} from '@bastion/domain';
import { CONFIG, type Config } from '@bastion/infra/config/config';
import { PostgresEventStore } from '@bastion/infra/event-store/postgres/postgres-event-store.adapter';
import { resolveRef } from '@bastion/infra/git/git-command';
import { openRepository } from '@bastion/infra/git/repository-store';
import { uuidv7 } from '@bastion/infra/ids/uuid-v7';
import { IsBoolean, IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import type { PoolClient } from 'pg';
import { HumansOnly } from '../auth/public.decorator';
import { type BastionRequest, commandContext } from '../auth/request-context';
import { Requires } from '../auth/requires.decorator';
import { SessionDatabase } from '../auth/session-database';
import { ProblemError, problemType } from '../http/problem';
import { type FieldSealer, SEALED_FIELDS, SealedFields, sealEvents } from '../security/sealed-fields';
import { reposRoot } from './code.settings';
import { testRunView } from './test-runs.http.controller';

export class OpenMergeRequestRequest {
  @ApiProperty({ example: 'agent/<agent-id>/feature' }) @IsString() @Matches(/^[A-Za-z0-9._/-]{1,200}$/) sourceBranch!: string;
  @ApiProperty() @IsString() @MaxLength(200) title!: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(20_000) description?: string;
}

export class ApproveRequest {
  @ApiProperty({ description: 'The head you reviewed; a push since voids the approval.' }) @Matches(/^[0-9a-f]{40}$/) headSha!: string;
}

export class CommentRequest {
  @ApiProperty() @IsString() @MaxLength(20_000) body!: string;
  @ApiPropertyOptional() @IsOptional() @IsBoolean() changesRequested?: boolean;
}

const notFound = () => new ProblemError({ type: problemType('not-found'), title: 'no such merge request', status: 404 });

/** The description and comment bodies are sealed under the org's DEK (`sealer`, made before the transaction). */
async function runCommand(tx: PoolClient, req: BastionRequest, orgId: string, mrId: string, command: MergeRequestCommand, repoId?: string, sealer?: FieldSealer) {
  const store = new PostgresEventStore(tx);
  const stream = `mr-${mrId}`;
  const history = await store.readStream(stream);
  const state = fold(mergeRequestDecider, history as unknown as MergeRequestEvent[]);
  if (state.status !== 'Empty' && (state.orgId !== orgId || (repoId && state.repoId !== repoId))) throw new MergeRequestNotFoundError();
  const decided = mergeRequestDecider.decide(command, state);
  if (decided.length) await store.append(stream, sealEvents(toNewEvents(decided, commandContext(req, { orgId })), sealer), history.length === 0 ? 'no_stream' : history.length - 1);
  return decided;
}

@ApiTags('code')
@ApiBearerAuth()
@Controller('v1/orgs/:orgId/repos/:repoId/merge-requests')
export class MergeRequestsController {
  constructor(
    private readonly db: SessionDatabase,
    @Inject(CONFIG) private readonly config: Config,
    private readonly fields: SealedFields,
  ) {}

  /** An agent (mr:open) or a member (code:contribute) opens a merge request from a branch to main. */
  @Requires('code:contribute', 'mr:open')
  @Post()
  @HttpCode(201)
  @ApiCreatedResponse({ description: '{id, headSha}' })
  async open(
    @Param('orgId', new ParseUUIDPipe()) orgId: string,
    @Param('repoId', new ParseUUIDPipe()) repoId: string,
    @Body() body: OpenMergeRequestRequest,
    @Req() req: BastionRequest,
  ) {
    const principal = req.principal!;
    const access = await this.db.inOrg(req, orgId, async (tx) =>
      (await tx.query<{ access: string | null }>('select authz.repo_access($1) as access', [repoId])).rows[0]!.access,
    );
    if (access !== 'push') throw new ProblemError({ type: problemType('forbidden'), title: 'forbidden', status: 403 });
    const repoPath = await openRepository(reposRoot(this.config), orgId, repoId);
    const headSha = await resolveRef(repoPath, `refs/heads/${body.sourceBranch}`).catch(() => null);
    if (!headSha) throw new ProblemError({ type: problemType('validation'), title: 'the source branch does not exist', status: 422, errors: [{ field: 'sourceBranch', message: 'does not exist' }] });
    const mrId = uuidv7();
    const sealer = body.description ? await this.fields.sealerFor(req, orgId) : undefined;
    await this.db.inOrg(req, orgId, (tx) =>
      runCommand(tx, req, orgId, mrId, {
        type: 'OpenMergeRequest',
        data: { mrId, repoId, orgId, sourceBranch: body.sourceBranch, headSha, title: body.title, description: body.description ?? '', openedBy: { type: principal.type, id: principal.id } },
      }, undefined, sealer),
    );
    return { id: mrId, headSha };
  }

  @Requires('mr:view', 'mr:open')
  @Get(':mrId')
  @ApiOkResponse({ description: 'state, head, approvals, runs' })
  async get(@Param('orgId', new ParseUUIDPipe()) orgId: string, @Param('repoId', new ParseUUIDPipe()) repoId: string, @Param('mrId', new ParseUUIDPipe()) mrId: string, @Req() req: BastionRequest) {
    // One transaction: the rows, and the wrapped key the description needs with the emergency stop checked.
    const [row, runs, keys] = await this.db.inOrg(req, orgId, async (tx) => {
      const found = (await tx.query('select * from merge_requests where org_id = $1 and repo_id = $2 and mr_id = $3', [orgId, repoId, mrId])).rows[0];
      if (!found) return [undefined, [], undefined] as const;
      const testRuns = (await tx.query('select * from merge_request_test_runs where org_id = $1 and mr_id = $2 order by requested_at, run_id', [orgId, mrId])).rows;
      return [found, testRuns, await this.fields.wrappedKeysIn(tx, orgId, [found.description])] as const;
    });
    if (!row) throw notFound();
    // One record: fails closed with `key-revoked` (409) while the org's key is withdrawn; the key is unwrapped
    // after the commit (a KMS call never waits inside a transaction).
    const [description] = await this.fields.openOne(req, orgId, [{ record: row.mr_id, field: SEALED_FIELDS.mergeRequestDescription, token: row.description }], keys);
    return {
      id: row.mr_id,
      title: row.title,
      description,
      sourceBranch: row.source_branch,
      headSha: row.head_sha,
      state: row.state,
      openedBy: { type: row.opened_by_type, id: row.opened_by_id },
      approvals: row.approvals,
      testRuns: (runs as Record<string, unknown>[]).map(testRunView),
      mergeCommit: row.merge_commit,
      lastFailure: row.last_failure,
    };
  }

  @Requires('mr:review', 'mr:open')
  @Post(':mrId/comments')
  @HttpCode(201)
  @ApiCreatedResponse()
  async comment(@Param('orgId', new ParseUUIDPipe()) orgId: string, @Param('repoId', new ParseUUIDPipe()) repoId: string, @Param('mrId', new ParseUUIDPipe()) mrId: string, @Body() body: CommentRequest, @Req() req: BastionRequest) {
    const sealer = await this.fields.sealerFor(req, orgId);
    await this.db.inOrg(req, orgId, (tx) =>
      runCommand(tx, req, orgId, mrId, { type: 'CommentOnMergeRequest', data: { body: body.body, changesRequested: body.changesRequested ?? false }, actor: { type: req.principal!.type, id: req.principal!.id } }, repoId, sealer),
    );
    return {};
  }

  /**
   * Human approval (the design card's HumanApproved): mr:approve, a session that verified MFA within 15 minutes
   * (read from the session row), the current head, not the opener or a pusher, required runs passed. No agent
   * reaches this route (HumansOnly), the decider refuses a non-human, and the events table refuses the event
   * without a live MFA-fresh human session.
   */
  @HumansOnly()
  @Requires('mr:approve')
  @Post(':mrId/approve')
  @HttpCode(201)
  @ApiCreatedResponse({ description: 'Approved; the merge saga merges once the required approvals are complete.' })
  async approve(@Param('orgId', new ParseUUIDPipe()) orgId: string, @Param('repoId', new ParseUUIDPipe()) repoId: string, @Param('mrId', new ParseUUIDPipe()) mrId: string, @Body() body: ApproveRequest, @Req() req: BastionRequest) {
    const principal = req.principal!;
    await this.db.inOrg(req, orgId, async (tx) => {
      const mfa = (await tx.query<{ at: Date | null }>('select authz.current_session_mfa_at() as at')).rows[0]!.at;
      const policy = (await tx.query<{ required_approvals: number; require_passing_tests: boolean }>('select * from authz.code_policy($1)', [orgId])).rows[0]!;
      const email = (await tx.query<{ email: string }>('select authz.my_email() as email')).rows[0]!.email;
      const now = new Date();
      return runCommand(
        tx,
        req,
        orgId,
        mrId,
        {
          type: 'ApproveMergeRequest',
          data: {
            headSha: body.headSha,
            approver: { type: 'human', id: principal.id, mfaVerifiedAtMs: mfa ? mfa.getTime() : null },
            policy: { requiredApprovals: policy.required_approvals, requirePassingTests: policy.require_passing_tests },
            commit: { authorName: email, authorEmail: email, committerName: 'Bastion', committerEmail: 'merge@bastion.localhost', date: now.toISOString(), message: `Merge merge request ${mrId}\n\nApproved-by: ${email}` },
            nowMs: now.getTime(),
          },
        },
        repoId,
      );
    });
    return { approved: true };
  }
}
