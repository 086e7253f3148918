import { Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { CONFIG, type Config } from '@bastion/infra/config/config';
import { openRedis } from '@bastion/infra/queue/redis';
import type Redis from 'ioredis';
import { SessionDatabase } from '../auth/session-database';
import { REDIS } from '../tokens';
import { AuditController } from './audit.http.controller';
import { AuditSigningClient } from './audit-signing.client';
import { AUDIT_SIGNING } from './audit.tokens';

@Module({
  controllers: [AuditController],
  providers: [
    SessionDatabase,
    {
      provide: AUDIT_SIGNING,
      inject: [REDIS, CONFIG],
      useFactory: async (redis: Redis, config: Config) => new AuditSigningClient(redis, await openRedis(config.REDIS_URL), config.REDIS_PREFIX),
    },
  ],
})
export class AuditModule implements OnApplicationShutdown {
  constructor(@Inject(AUDIT_SIGNING) private readonly signing: AuditSigningClient) {}

  onApplicationShutdown(): void {
    this.signing.close();
  }
}
