import { Module } from '@nestjs/common';
import { SessionDatabase } from '../auth/session-database';
import { SessionIssuer } from '../identity/session-issuer';
import { GitHttpController } from './git-http.controller';
import { MergeRequestsController } from './merge-requests.http.controller';
import { ReposController } from './repos.http.controller';

@Module({
  controllers: [ReposController, MergeRequestsController, GitHttpController],
  providers: [SessionDatabase, SessionIssuer],
})
export class CodeModule {}
