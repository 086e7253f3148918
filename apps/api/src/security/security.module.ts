import { Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { CONFIG, type Config } from '@bastion/infra/config/config';
import { DataKeyCache } from '@bastion/infra/crypto/envelope';
import { GcpKms, LocalKms } from '@bastion/infra/crypto/kms';
import { KmsRouter, OrgKeyEvictions, OrgKeyService } from '@bastion/infra/crypto/org-keys';
import { openRedis } from '@bastion/infra/queue/redis';
import type { JsonLogger } from '@bastion/infra/runtime/logger';
import type Redis from 'ioredis';
import { SessionDatabase } from '../auth/session-database';
import { LOGGER, REDIS } from '../tokens';
import { KmsController } from './kms.http.controller';
import { kmsSettingsOf } from './kms.settings';
import { SealedFields } from './sealed-fields';
import { KMS_ROUTER, ORG_KEY_SERVICE, ORG_KEYS_RUNTIME } from './security.tokens';

/** Everything the per-org key service holds open, closed together at shutdown. */
export interface OrgKeysRuntime {
  readonly router: KmsRouter;
  readonly service: OrgKeyService;
  close(): Promise<void>;
}

/**
 * Opens the per-org key service of this process: the KMS router (the local KMS always; Google Cloud KMS when
 * configured) — the process's only one, which the person keys use too — a DEK cache, and its eviction
 * subscription on a Redis connection of its own.
 */
export async function openOrgKeysRuntime(config: Config, redis: Redis, logger: JsonLogger): Promise<OrgKeysRuntime> {
  const settings = kmsSettingsOf(config);
  const gcp = settings.gcp === null ? undefined : new GcpKms({ clientOptions: settings.gcp });
  const router = new KmsRouter({ local: new LocalKms({ directory: settings.localDir }), ...(gcp ? { gcp } : {}) });
  const cache = new DataKeyCache({ ttlSeconds: settings.ttlSeconds });
  const onError = (error: unknown, what: string): void => logger.event('warn', `org keys: could not ${what}`, { error });
  const subscriber = await openRedis(config.REDIS_URL);
  const evictions = new OrgKeyEvictions({ publisher: redis, subscriber, prefix: config.REDIS_PREFIX, cache, onError });
  try {
    await evictions.start();
  } catch (error) {
    await evictions.close();
    await gcp?.close();
    throw error;
  }
  const service = new OrgKeyService({ kms: router, platformKeyRef: settings.platformKeyRef, cache, evictions, onError });
  return {
    router,
    service,
    async close() {
      await evictions.close();
      await gcp?.close();
    },
  };
}

/**
 * The org's encryption key over HTTP (`/v1/orgs/:orgId/security/kms…`), and {@link ORG_KEY_SERVICE},
 * {@link SealedFields} and {@link KMS_ROUTER} for every module that encrypts or decrypts an org's fields or wraps a
 * key (global: every context that stores a sensitive field needs them, and none should build its own key service
 * or KMS client).
 */
@Global()
@Module({
  controllers: [KmsController],
  providers: [
    SessionDatabase,
    {
      provide: ORG_KEYS_RUNTIME,
      inject: [CONFIG, REDIS, LOGGER],
      useFactory: (config: Config, redis: Redis, logger: JsonLogger) => openOrgKeysRuntime(config, redis, logger),
    },
    { provide: ORG_KEY_SERVICE, inject: [ORG_KEYS_RUNTIME], useFactory: (runtime: OrgKeysRuntime) => runtime.service },
    { provide: KMS_ROUTER, inject: [ORG_KEYS_RUNTIME], useFactory: (runtime: OrgKeysRuntime) => runtime.router },
    SealedFields,
  ],
  exports: [ORG_KEY_SERVICE, KMS_ROUTER, SealedFields],
})
export class SecurityModule implements OnApplicationShutdown {
  constructor(@Inject(ORG_KEYS_RUNTIME) private readonly runtime: OrgKeysRuntime) {}

  async onApplicationShutdown(): Promise<void> {
    await this.runtime.close();
  }
}
