import { Module } from '@nestjs/common';
import { CONFIG, type Config } from '@bastion/infra/config/config';
import { JobQueue } from '@bastion/infra/queue/job-queue';
import { QUEUES } from '@bastion/infra/queue/queues';
import type Redis from 'ioredis';
import { REDIS } from '../tokens';
import { SessionDatabase } from '../auth/session-database';
import { SessionIssuer } from '../identity/session-issuer';
import { GitHttpController } from './git-http.controller';
import { MergeRequestsController } from './merge-requests.http.controller';
import { ReposController } from './repos.http.controller';
import { TEST_RUNS_QUEUE } from './code.tokens';
import { MergeRequestPolicyController } from './merge-request-policy.http.controller';
import { TestRunsController } from './test-runs.http.controller';

@Module({
  controllers: [ReposController, MergeRequestsController, TestRunsController, MergeRequestPolicyController, GitHttpController],
  providers: [
    SessionDatabase,
    SessionIssuer,
    { provide: TEST_RUNS_QUEUE, inject: [REDIS, CONFIG], useFactory: (redis: Redis, config: Config) => new JobQueue(QUEUES.testRuns, redis, config.REDIS_PREFIX) },
  ],
})
export class CodeModule {}
