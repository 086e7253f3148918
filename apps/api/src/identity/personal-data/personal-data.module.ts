import { Global, Module } from '@nestjs/common';
import { CONFIG, type Config } from '@bastion/infra/config/config';
import type { KmsRouter } from '@bastion/infra/crypto/org-keys';
import { PersonKeyCache, PersonKeyService, personEmailLookupKey } from '@bastion/infra/crypto/person-keys';
import type { ServerSecrets } from '@bastion/infra/crypto/server-secrets';
import { uuidv7 } from '@bastion/infra/ids/uuid-v7';
import { SessionDatabase } from '../../auth/session-database';
import { KMS_ROUTER } from '../../security/security.tokens';
import { SERVER_SECRETS } from '../../tokens';
import { PersonalData } from './personal-data';
import { PERSON_KEYS } from './personal-data.tokens';

/**
 * The person-key service of this process, over the process's one KMS router (the security module's: the same
 * KMS configuration and client as the org keys, closed with them at shutdown). Person keys are wrapped under the
 * platform key (`KMS_PLATFORM_KEY`) and cached for `PERSON_KEY_TTL_SECONDS` (0 caches nothing): reads check the key
 * table every time, so an erasure shows at once; only sealing may use a cached key for that long.
 */
export function personKeyServiceOf(kms: KmsRouter, config: Config, secrets: ServerSecrets): PersonKeyService {
  return new PersonKeyService({
    kms,
    keyRef: config.KMS_PLATFORM_KEY,
    emailLookupKey: personEmailLookupKey(secrets),
    cache: new PersonKeyCache({ ttlSeconds: config.PERSON_KEY_TTL_SECONDS }),
    newId: uuidv7,
  });
}

/** Person keys for every module (global): the service and the per-request helper (AppModule's guard uses it). */
@Global()
@Module({
  providers: [
    SessionDatabase,
    { provide: PERSON_KEYS, inject: [KMS_ROUTER, CONFIG, SERVER_SECRETS], useFactory: personKeyServiceOf },
    PersonalData,
  ],
  exports: [PERSON_KEYS, PersonalData],
})
export class PersonalDataModule {}
