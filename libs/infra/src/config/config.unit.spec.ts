import { ConfigError, loadConfig } from './config';

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
});
