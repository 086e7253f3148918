import { Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { CONFIG, type Config } from '@bastion/infra/config/config';
import type { KmsRouter } from '@bastion/infra/crypto/org-keys';
import { PersonKeyCache, PersonKeyEvictions, PersonKeyService, personEmailLookupKey } from '@bastion/infra/crypto/person-keys';
import type { ServerSecrets } from '@bastion/infra/crypto/server-secrets';
import { uuidv7 } from '@bastion/infra/ids/uuid-v7';
import { openRedis } from '@bastion/infra/queue/redis';
import type { JsonLogger } from '@bastion/infra/runtime/logger';
import type Redis from 'ioredis';
import { SessionDatabase } from '../../auth/session-database';
import { KMS_ROUTER } from '../../security/security.tokens';
import { LOGGER, REDIS, SERVER_SECRETS } from '../../tokens';
import { PersonalData } from './personal-data';
import { PERSON_KEYS, PERSON_KEYS_RUNTIME } from './personal-data.tokens';

/** The person-key service of this process and its eviction subscription, closed together at shutdown. */
export interface PersonKeysRuntime {
  readonly service: PersonKeyService;
  readonly evictions: PersonKeyEvictions;
  close(): Promise<void>;
}

/**
 * The person-key service of this process, over the process's one KMS router (the security module's: the same
 * KMS configuration and client as the org keys, closed with them at shutdown). Person keys are wrapped under the
 * platform key (`KMS_PLATFORM_KEY`) and cached for `PERSON_KEY_TTL_SECONDS` (0 caches nothing): reads check the key
 * table every time, so an erasure shows at once; sealing uses the cache, which an erasure empties of the person at
 * once ({@link openPersonKeysRuntime}).
 */
export function personKeyServiceOf(kms: KmsRouter, config: Config, secrets: ServerSecrets, cache?: PersonKeyCache): PersonKeyService {
  return new PersonKeyService({
    kms,
    keyRef: config.KMS_PLATFORM_KEY,
    emailLookupKey: personEmailLookupKey(secrets),
    cache: cache ?? new PersonKeyCache({ ttlSeconds: config.PERSON_KEY_TTL_SECONDS }),
    newId: uuidv7,
  });
}

/**
 * {@link personKeyServiceOf}, with its cache subscribed to person-key evictions on a Redis connection of its own:
 * `bastion erase-person` publishes one once the keys are deleted, and this process forgets them at once. While
 * that subscription is down, a cached key may be used for up to the TTL, and the log says so.
 */
export async function openPersonKeysRuntime(kms: KmsRouter, config: Config, secrets: ServerSecrets, redis: Redis, logger: JsonLogger): Promise<PersonKeysRuntime> {
  const cache = new PersonKeyCache({ ttlSeconds: config.PERSON_KEY_TTL_SECONDS });
  const service = personKeyServiceOf(kms, config, secrets, cache);
  const subscriber = await openRedis(config.REDIS_URL);
  const evictions = new PersonKeyEvictions({
    publisher: redis,
    subscriber,
    prefix: config.REDIS_PREFIX,
    cache,
    onError: (error, what) => logger.event('warn', `person keys: could not ${what}`, { error }),
    onLost: () =>
      logger.event('warn', 'person keys: eviction subscription lost; cached person keys dropped, and until it is back an erasure reaches this process only by PERSON_KEY_TTL_SECONDS', {
        ttlSeconds: config.PERSON_KEY_TTL_SECONDS,
      }),
    onRestored: () => logger.event('info', 'person keys: eviction subscription back; cached person keys dropped once more', {}),
  });
  try {
    await evictions.start();
  } catch (error) {
    await evictions.close();
    throw error;
  }
  return { service, evictions, close: () => evictions.close() };
}

/** Person keys for every module (global): the service and the per-request helper (AppModule's guard uses it). */
@Global()
@Module({
  providers: [
    SessionDatabase,
    { provide: PERSON_KEYS_RUNTIME, inject: [KMS_ROUTER, CONFIG, SERVER_SECRETS, REDIS, LOGGER], useFactory: openPersonKeysRuntime },
    { provide: PERSON_KEYS, inject: [PERSON_KEYS_RUNTIME], useFactory: (runtime: PersonKeysRuntime) => runtime.service },
    PersonalData,
  ],
  exports: [PERSON_KEYS, PersonalData],
})
export class PersonalDataModule implements OnApplicationShutdown {
  constructor(@Inject(PERSON_KEYS_RUNTIME) private readonly runtime: PersonKeysRuntime) {}

  async onApplicationShutdown(): Promise<void> {
    await this.runtime.close();
  }
}
