import { Module } from '@nestjs/common';
import { SessionDatabase } from '../auth/session-database';
import { SessionIssuer } from '../identity/session-issuer';
import { GitHttpController } from './git-http.controller';
import { MergeRequestsController } from './merge-requests.http.controller';
import { ReposController } from './repos.http.controller';
import { MergeRequestPolicyController } from './merge-request-policy.http.controller';
import { TestRunsController } from './test-runs.http.controller';

@Module({
  controllers: [ReposController, MergeRequestsController, TestRunsController, MergeRequestPolicyController, GitHttpController],
  providers: [SessionDatabase, SessionIssuer],
})
export class CodeModule {}
