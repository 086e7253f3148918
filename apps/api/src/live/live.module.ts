import { Inject, Injectable, Module, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { CONFIG, type Config } from '@bastion/infra/config/config';
import { openRedis } from '@bastion/infra/queue/redis';
import type { JsonLogger } from '@bastion/infra/runtime/logger';
import type Redis from 'ioredis';
import { SessionDatabase } from '../auth/session-database';
import { LOGGER, REDIS } from '../tokens';
import { LiveGateway } from './live.gateway';
import { WsTicketsController } from './ws-tickets.http.controller';

@Injectable()
class LiveGatewayHost implements OnApplicationBootstrap, OnApplicationShutdown {
  private gateway: LiveGateway | undefined;

  constructor(
    private readonly http: HttpAdapterHost,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(LOGGER) private readonly logger: JsonLogger,
    private readonly db: SessionDatabase,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    // Pub/sub needs a connection of its own (a subscribed connection can do nothing else).
    const subscriber = await openRedis(this.config.REDIS_URL);
    this.gateway = new LiveGateway(this.config, this.redis, subscriber, this.db, this.logger, this.config.LIVE_SWEEP_MS);
    await this.gateway.attach(this.http.httpAdapter.getHttpServer());
  }

  async onApplicationShutdown(): Promise<void> {
    await this.gateway?.close();
  }
}

@Module({ controllers: [WsTicketsController], providers: [SessionDatabase, LiveGatewayHost] })
export class LiveModule {}
