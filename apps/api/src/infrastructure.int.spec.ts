/**
 * In production the API holds no database login but `bastion_app` (libs/infra/src/database/process-logins.ts): given
 * the bootstrap superuser's URL, or another process's password, it refuses to start in one sentence; given its own
 * login, it starts and queries as `bastion_app`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateFernetKey } from '@bastion/infra/crypto/fernet/fernet-key';
import { KeyDirectory } from '@bastion/infra/crypto/jwt/key-directory';
import { StartupError } from '@bastion/infra/runtime/startup-error';
import type { Pool } from 'pg';
import { startTestApi, type TestApi } from '../../../test/support/api';
import { closePools, type TestDatabase, workerDatabase } from '../../../test/support/database';
import { dropPrefix } from '../../../test/support/redis';
import { APP_POOL } from './tokens';

let db: TestDatabase;
const started: TestApi[] = [];

/** Everything else production requires, so that only the database login decides. */
function productionSettings(): Record<string, string> {
  return {
    NODE_ENV: 'production',
    BASTION_SERVER_SECRET: randomBytes(32).toString('base64'),
    FERNET_KEYS: generateFernetKey(),
    SMTP_URL: 'smtp://127.0.0.1:2525',
  };
}

beforeAll(async () => {
  db = await workerDatabase();
});
afterAll(async () => {
  for (const api of started) {
    await api.close();
    await dropPrefix(api.redisPrefix);
  }
  await closePools();
});

describe('in production the API holds no database login but bastion_app', () => {
  it('refuses to start with the bootstrap superuser URL, saying what to give it instead', async () => {
    const attempt = startTestApi(db, { ...productionSettings(), DATABASE_URL: db.adminUrl });
    await expect(attempt).rejects.toBeInstanceOf(StartupError);
    await expect(attempt).rejects.toThrow(
      'In production this process logs in to PostgreSQL only as bastion_app, but DATABASE_URL logs in as "postgres": ' +
        'give it DATABASE_URL=postgres://bastion_app:<password>@<host>/<database> and keep the bootstrap login for the bastion CLI.',
    );
  });

  it("refuses to start while its environment carries another process's database password", async () => {
    const attempt = startTestApi(db, { ...productionSettings(), DATABASE_URL: db.urlFor('bastion_app'), BASTION_SEALER_DB_PASSWORD: 'sealer-secret' });
    await expect(attempt).rejects.toThrow(
      "In production this process holds no other process's database password: remove BASTION_SEALER_DB_PASSWORD from its environment.",
    );
  });

  it('starts with its own bastion_app URL, answers ready, and queries as bastion_app', async () => {
    const jwtKeys = join(mkdtempSync(join(tmpdir(), 'bastion-production-')), 'jwt');
    await new KeyDirectory(jwtKeys).loadOrGenerate(new Date()); // production never generates a signing key itself
    const api = await startTestApi(db, { ...productionSettings(), DATABASE_URL: db.urlFor('bastion_app'), JWT_KEYS_DIR: jwtKeys });
    started.push(api);
    const ready = await fetch(`${api.base}/health/ready`);
    expect(ready.status).toBe(200);
    const pool = api.app.get<Pool>(APP_POOL);
    const { rows } = await pool.query<{ user: string; rolsuper: boolean; rolbypassrls: boolean }>(
      'select current_user as user, rolsuper, rolbypassrls from pg_roles where rolname = current_user',
    );
    expect(rows[0]).toEqual({ user: 'bastion_app', rolsuper: false, rolbypassrls: false });
  });
});
