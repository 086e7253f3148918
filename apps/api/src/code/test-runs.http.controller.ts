import { Body, Controller, HttpCode, Param, ParseUUIDPipe, Post, Req } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiProperty, ApiTags } from '@nestjs/swagger';
import { fold, mergeRequestDecider, type MergeRequestEvent, MergeRequestNotFoundError, type TestRunRequested, toNewEvents } from '@bastion/domain';
import { PostgresEventStore } from '@bastion/infra/event-store/postgres/postgres-event-store.adapter';
import { uuidv7 } from '@bastion/infra/ids/uuid-v7';
import { Matches } from 'class-validator';
import { type BastionRequest, commandContext } from '../auth/request-context';
import { Requires } from '../auth/requires.decorator';
import { SessionDatabase } from '../auth/session-database';
import { ProblemError, problemType } from '../http/problem';

export class RequestTestRunRequest {
  @ApiProperty({ description: 'The head to test: a head that moved since is refused (409), never tested instead.' })
  @Matches(/^[0-9a-f]{40}$/)
  headSha!: string;
}

/** A run as the API shows it: the outcome, never output (none is kept). */
export function testRunView(r: Record<string, unknown>) {
  return {
    runId: r.run_id,
    headSha: r.head_sha,
    status: r.status,
    exitCode: r.exit_code,
    timedOut: r.timed_out,
    invalidConfig: r.invalid_config,
    durationMs: r.duration_ms,
    requestedBy: { type: r.requested_by_type, id: r.requested_by_id },
    requestedAt: r.requested_at,
    completedAt: r.completed_at,
  };
}

@ApiTags('code')
@ApiBearerAuth()
@Controller('v1/orgs/:orgId/repos/:repoId/merge-requests/:mrId/test-runs')
export class TestRunsController {
  constructor(private readonly db: SessionDatabase) {}

  /**
   * An agent granted the repository (test:request) or a member (code:contribute) requests a sandboxed run of the
   * repository's `.bastion/ci.json` on the merge request's current head. The outcome arrives as TestRunCompleted.
   * The request is only the event: the projector's reactor enqueues the job from the event stream, so a request
   * whose API dies right after the commit is still run (enqueue-test-run-when-requested.reactor.ts).
   */
  @Requires('code:contribute', 'test:request')
  @Post()
  @HttpCode(202)
  @ApiAcceptedResponse({ description: '{runId}: the run is requested; the outcome arrives as TestRunCompleted' })
  async request(
    @Param('orgId', new ParseUUIDPipe()) orgId: string,
    @Param('repoId', new ParseUUIDPipe()) repoId: string,
    @Param('mrId', new ParseUUIDPipe()) mrId: string,
    @Body() body: RequestTestRunRequest,
    @Req() req: BastionRequest,
  ) {
    const principal = req.principal!;
    const runId = uuidv7();
    await this.db.inOrg(req, orgId, async (tx) => {
      const access = (await tx.query<{ access: string | null }>('select authz.repo_access($1) as access', [repoId])).rows[0]!.access;
      if (access !== 'push') throw new ProblemError({ type: problemType('forbidden'), title: 'forbidden', status: 403 });
      const store = new PostgresEventStore(tx);
      const stream = `mr-${mrId}`;
      const history = await store.readStream(stream);
      const state = fold(mergeRequestDecider, history as unknown as MergeRequestEvent[]);
      if (state.status !== 'Empty' && (state.orgId !== orgId || state.repoId !== repoId)) throw new MergeRequestNotFoundError();
      const decided = mergeRequestDecider.decide({ type: 'RequestTestRun', data: { runId, headSha: body.headSha, requestedBy: { type: principal.type, id: principal.id } } }, state);
      const events = toNewEvents(decided as TestRunRequested[], commandContext(req, { orgId }));
      await store.append(stream, events, history.length - 1);
    });
    return { runId };
  }
}
