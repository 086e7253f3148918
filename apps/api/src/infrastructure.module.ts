import { Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { CONFIG, type Config } from '@bastion/infra/config/config';
import { fromProjectRoot } from '@bastion/infra/config/project-root';
import { loadServerSecrets, type ServerSecrets } from '@bastion/infra/crypto/server-secrets';
import { openRolePool } from '@bastion/infra/database/pools';
import { assertLoginPrivileges, assertProductionLogins } from '@bastion/infra/database/process-logins';
import { createEventStore } from '@bastion/infra/event-store/create-event-store';
import { EVENT_STORE, type EventStore } from '@bastion/infra/event-store/event-store.port';
import { openRedis } from '@bastion/infra/queue/redis';
import type { JsonLogger } from '@bastion/infra/runtime/logger';
import type Redis from 'ioredis';
import type { Pool } from 'pg';
import { ACCESS_TOKENS } from './auth/access-tokens';
import { JwtAccessTokens } from './auth/jwt-access-tokens';
import { APP_POOL, LOGGER, REDIS, SERVER_SECRETS } from './tokens';

export interface ApiInfrastructure {
  readonly config: Config;
  readonly logger: JsonLogger;
  readonly pool: Pool;
  readonly store: EventStore;
  readonly redis: Redis;
  readonly secrets: ServerSecrets;
  readonly tokens: JwtAccessTokens;
}

/**
 * Opens everything the API needs as the `bastion_app` role, failing start-up with one sentence if it cannot. In
 * production the API is given only that login (process-logins.ts): never the bootstrap superuser's.
 */
export async function openApiInfrastructure(config: Config, logger: JsonLogger): Promise<ApiInfrastructure> {
  assertProductionLogins('api', config);
  const secretFile = fromProjectRoot(config.BASTION_SERVER_SECRET_FILE);
  const secrets = loadServerSecrets(config, secretFile);
  const tokens = await JwtAccessTokens.open(config);
  // Idle connections stay open: a burst after a quiet spell otherwise pays connection set-up on the request path
  // (measured as the largest refresh latency spikes in docs/performance.md).
  const pool = await openRolePool(config.DATABASE_URL, 'bastion_app', { max: 20, idleTimeoutMillis: 0 });
  await assertLoginPrivileges(pool, 'bastion_app').catch(async (error: unknown) => {
    await pool.end();
    throw error;
  });
  const store = await createEventStore(config, pool);
  const redis = await openRedis(config.REDIS_URL);
  return { config, logger, pool, store, redis, secrets, tokens };
}

@Global()
@Module({})
export class InfrastructureModule implements OnApplicationShutdown {
  constructor(
    @Inject(APP_POOL) private readonly pool: Pool,
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(ACCESS_TOKENS) private readonly tokens: JwtAccessTokens,
  ) {}

  static forRoot(infra: ApiInfrastructure) {
    const providers = [
      { provide: CONFIG, useValue: infra.config },
      { provide: LOGGER, useValue: infra.logger },
      { provide: APP_POOL, useValue: infra.pool },
      { provide: EVENT_STORE, useValue: infra.store },
      { provide: REDIS, useValue: infra.redis },
      { provide: SERVER_SECRETS, useValue: infra.secrets },
      { provide: ACCESS_TOKENS, useValue: infra.tokens },
    ];
    return { module: InfrastructureModule, providers, exports: providers.map((p) => p.provide) };
  }

  async onApplicationShutdown(): Promise<void> {
    this.tokens.close();
    this.redis.disconnect();
    await this.store.close();
    await this.pool.end();
  }
}
