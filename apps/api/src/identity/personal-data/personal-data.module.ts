import { Global, Module } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { GcpKms, LocalKms } from '@bastion/infra/crypto/kms';
import { KmsRouter } from '@bastion/infra/crypto/org-keys';
import { DEFAULT_PERSON_KEY_TTL_SECONDS, PersonKeyCache, PersonKeyService, personEmailLookupKey } from '@bastion/infra/crypto/person-keys';
import type { ServerSecrets } from '@bastion/infra/crypto/server-secrets';
import { uuidv7 } from '@bastion/infra/ids/uuid-v7';
import { SessionDatabase } from '../../auth/session-database';
import { kmsSettingsFromEnv } from '../../security/kms.settings';
import { SERVER_SECRETS } from '../../tokens';
import { PersonalData } from './personal-data';
import { PersonalDataInterceptor } from './personal-data.interceptor';
import { PERSON_KEYS } from './personal-data.tokens';

/**
 * `PERSON_KEY_TTL_SECONDS` (default 300, 0 caches nothing): how long an unwrapped person key stays in memory. Reads
 * check the key table every time, so an erasure shows at once; only sealing may use a cached key for that long.
 */
export function personKeyTtlFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.PERSON_KEY_TTL_SECONDS;
  if (text === undefined || text === '') return DEFAULT_PERSON_KEY_TTL_SECONDS;
  const ttl = Number(text);
  if (!Number.isInteger(ttl) || ttl < 0 || ttl > 3600) throw new Error(`PERSON_KEY_TTL_SECONDS must be a whole number from 0 to 3600 (got ${JSON.stringify(text)}).`);
  return ttl;
}

/** Person keys for every module (global): the service, the per-request helper and the interceptor. */
@Global()
@Module({
  providers: [
    SessionDatabase,
    {
      provide: PERSON_KEYS,
      inject: [SERVER_SECRETS],
      useFactory: (secrets: ServerSecrets) => {
        const settings = kmsSettingsFromEnv();
        // The person keys are wrapped under the platform key, which lives in the local KMS unless configured to
        // be a Google Cloud key.
        const gcp = settings.gcp === null || KmsRouter.providerOf(settings.platformKeyRef) !== 'gcp' ? undefined : new GcpKms({ clientOptions: settings.gcp });
        const kms = new KmsRouter({ local: new LocalKms({ directory: settings.localDir }), ...(gcp ? { gcp } : {}) });
        return new PersonKeyService({
          kms,
          keyRef: settings.platformKeyRef,
          emailLookupKey: personEmailLookupKey(secrets),
          cache: new PersonKeyCache({ ttlSeconds: personKeyTtlFromEnv() }),
          newId: uuidv7,
        });
      },
    },
    PersonalData,
    { provide: APP_INTERCEPTOR, useClass: PersonalDataInterceptor },
  ],
  exports: [PERSON_KEYS, PersonalData],
})
export class PersonalDataModule {}
