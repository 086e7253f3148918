import { Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { AuditSigningClient } from '@bastion/infra/audit';
import { CONFIG, type Config } from '@bastion/infra/config/config';
import { fromProjectRoot } from '@bastion/infra/config/project-root';
import { JobQueue } from '@bastion/infra/queue/job-queue';
import { QUEUES } from '@bastion/infra/queue/queues';
import { openRedis } from '@bastion/infra/queue/redis';
import type Redis from 'ioredis';
import { SessionDatabase } from '../auth/session-database';
import { REDIS } from '../tokens';
import { AuditExportsController } from './audit-exports.http.controller';
import { AuditController } from './audit.http.controller';
import { AUDIT_EXPORTS_DIR, AUDIT_EXPORTS_QUEUE, AUDIT_SIGNING } from './audit.tokens';

@Module({
  controllers: [AuditController, AuditExportsController],
  providers: [
    SessionDatabase,
    {
      provide: AUDIT_SIGNING,
      inject: [REDIS, CONFIG],
      useFactory: async (redis: Redis, config: Config) => new AuditSigningClient(redis, await openRedis(config.REDIS_URL), config.REDIS_PREFIX),
    },
    {
      provide: AUDIT_EXPORTS_QUEUE,
      inject: [REDIS, CONFIG],
      useFactory: (redis: Redis, config: Config) => new JobQueue(QUEUES.auditExports, redis, config.REDIS_PREFIX),
    },
    {
      provide: AUDIT_EXPORTS_DIR,
      inject: [CONFIG],
      useFactory: (config: Config) => (fromProjectRoot(config.AUDIT_EXPORTS_DIR)),
    },
  ],
})
export class AuditModule implements OnApplicationShutdown {
  constructor(
    @Inject(AUDIT_SIGNING) private readonly signing: AuditSigningClient,
    @Inject(AUDIT_EXPORTS_QUEUE) private readonly exportsQueue: JobQueue<'audit-exports'>,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    this.signing.close();
    await this.exportsQueue.close();
  }
}
