import { DEFAULT_DATA_KEY_TTL_SECONDS } from '../crypto/envelope';
import { DEFAULT_PLATFORM_KEY_REF } from '../crypto/org-keys';
import { DEFAULT_PERSON_KEY_TTL_SECONDS } from '../crypto/person-keys';
import { ConfigError, hostPortOf, loadConfig } from './config';

describe('configuration', () => {
  it('defaults to the embedded PostgreSQL event store and local services', () => {
    const config = loadConfig({});
    expect(config.EVENT_STORE).toBe('postgres');
    expect(config.PORT).toBe(3000);
    expect(config.TRUST_PROXY).toBe('');
  });

  it('names a wrong EVENT_STORE value in one sentence', () => {
    expect(() => loadConfig({ EVENT_STORE: 'mongo' })).toThrow(ConfigError);
    expect(() => loadConfig({ EVENT_STORE: 'mongo' })).toThrow('Invalid configuration: EVENT_STORE must be "postgres" or "eventstoredb" (got "mongo").');
  });

  it('requires EVENTSTOREDB_URL with EVENT_STORE=eventstoredb', () => {
    expect(() => loadConfig({ EVENT_STORE: 'eventstoredb' })).toThrow(/EVENTSTOREDB_URL is required/);
  });

  it('refuses a DATABASE_URL that is not a PostgreSQL URL', () => {
    expect(() => loadConfig({ DATABASE_URL: 'mysql://x' })).toThrow(/DATABASE_URL must be a PostgreSQL URL/);
  });

  describe('KMS and key-cache settings', () => {
    const CLOUD_KEY = 'projects/acme-prod/locations/europe-west1/keyRings/bastion/cryptoKeys/platform';

    it('default to the local KMS under .data/kms, local://platform, 30 s for org DEKs, 300 s for person keys, no Cloud KMS', () => {
      const config = loadConfig({});
      expect(config).toMatchObject({ KMS_LOCAL_DIR: '.data/kms', KMS_PLATFORM_KEY: 'local://platform', DATA_KEY_TTL_SECONDS: 30, PERSON_KEY_TTL_SECONDS: 300 });
      expect(config.GCP_KMS_ENDPOINT).toBeUndefined();
      expect(config.GOOGLE_APPLICATION_CREDENTIALS).toBeUndefined();
      // The same defaults the key services apply when built without configuration.
      expect([config.KMS_PLATFORM_KEY, config.DATA_KEY_TTL_SECONDS, config.PERSON_KEY_TTL_SECONDS]).toEqual([
        DEFAULT_PLATFORM_KEY_REF,
        DEFAULT_DATA_KEY_TTL_SECONDS,
        DEFAULT_PERSON_KEY_TTL_SECONDS,
      ]);
    });

    it('accept valid values, 0 (cache nothing) and 3600 included, and an empty value as unset', () => {
      const config = loadConfig({
        KMS_LOCAL_DIR: '/var/lib/bastion/kms',
        KMS_PLATFORM_KEY: CLOUD_KEY,
        DATA_KEY_TTL_SECONDS: '0',
        PERSON_KEY_TTL_SECONDS: '3600',
        GCP_KMS_ENDPOINT: '[::1]:8443',
        GOOGLE_APPLICATION_CREDENTIALS: '/etc/bastion/adc.json',
      });
      expect(config).toMatchObject({
        KMS_LOCAL_DIR: '/var/lib/bastion/kms',
        KMS_PLATFORM_KEY: CLOUD_KEY,
        DATA_KEY_TTL_SECONDS: 0,
        PERSON_KEY_TTL_SECONDS: 3600,
        GCP_KMS_ENDPOINT: '[::1]:8443',
        GOOGLE_APPLICATION_CREDENTIALS: '/etc/bastion/adc.json',
      });
      expect(loadConfig({ PERSON_KEY_TTL_SECONDS: '', KMS_PLATFORM_KEY: '' })).toMatchObject({ PERSON_KEY_TTL_SECONDS: 300, KMS_PLATFORM_KEY: 'local://platform' });
    });

    it.each(['-1', '1.5', '3601', 'five minutes'])('refuse a cache age of %p in one sentence naming the setting and the value', (value) => {
      for (const name of ['PERSON_KEY_TTL_SECONDS', 'DATA_KEY_TTL_SECONDS']) {
        expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
        expect(() => loadConfig({ [name]: value })).toThrow(
          `Invalid configuration: ${name} must be a whole number of seconds from 0 to 3600 (got ${JSON.stringify(value)}).`,
        );
      }
    });

    it.each([
      ['platform', /KMS_PLATFORM_KEY must be local:\/\/<name> or a Cloud KMS crypto key: expected projects\//],
      ['local://Platform', /KMS_PLATFORM_KEY must be .*: a local key name is 1–63 of a-z/],
      [`${CLOUD_KEY}/cryptoKeyVersions/3`, /KMS_PLATFORM_KEY must be .*: name the crypto key, not a version/],
    ])('refuse a platform key %p that no KMS could wrap with', (value, message) => {
      expect(() => loadConfig({ KMS_PLATFORM_KEY: value })).toThrow(ConfigError);
      expect(() => loadConfig({ KMS_PLATFORM_KEY: value })).toThrow(message);
      expect(() => loadConfig({ KMS_PLATFORM_KEY: value })).toThrow(`(got ${JSON.stringify(value)})`);
    });

    it.each(['127.0.0.1', 'kms.example.com:0', 'kms.example.com:65536', 'https://kms.example.com:443', 'a b:1'])(
      'refuse a GCP_KMS_ENDPOINT of %p: host:port only',
      (value) => {
        expect(() => loadConfig({ GCP_KMS_ENDPOINT: value })).toThrow(`Invalid configuration: GCP_KMS_ENDPOINT must be host:port (got ${JSON.stringify(value)}).`);
      },
    );

    it('hostPortOf splits host and port, bracketed IPv6 included', () => {
      expect(hostPortOf('cloudkms.googleapis.com:443')).toEqual({ host: 'cloudkms.googleapis.com', port: 443 });
      expect(hostPortOf('[::1]:50051')).toEqual({ host: '[::1]', port: 50051 });
      expect(hostPortOf('localhost')).toBeNull();
    });
  });
});
