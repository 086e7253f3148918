import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { createApi } from '../../apps/api/src/create-api';
import { AfterResponse } from '../../apps/api/src/http/after-response';
import { loadConfig } from '../../libs/infra/src/config/config';
import { JsonLogger } from '../../libs/infra/src/runtime/logger';
import type { TestDatabase } from './database';
import { dropPrefix, redisPrefix } from './redis';
import { redisUrl } from './services';

export interface TestApi {
  readonly base: string;
  readonly origin: string;
  readonly app: INestApplication;
  readonly mailDir: string;
  readonly keysDir: string;
  readonly redisPrefix: string;
  readonly logs: string[];
  /** Waits for the work routes do after they answer (a sign-in failure's record, a reset mail). */
  settled(): Promise<void>;
  close(): Promise<void>;
}

const KMS_SETTINGS = ['KMS_LOCAL_DIR', 'KMS_PLATFORM_KEY', 'DATA_KEY_TTL_SECONDS', 'PERSON_KEY_TTL_SECONDS', 'GCP_KMS_ENDPOINT', 'GOOGLE_APPLICATION_CREDENTIALS'];

/** The run's KMS (global-setup.ts), or the one a suite chose in `process.env` before starting its API. */
function kmsSettingsOfRun(): Record<string, string> {
  return Object.fromEntries(KMS_SETTINGS.flatMap((name) => (process.env[name] ? [[name, process.env[name]]] : [])));
}

/** Two API processes on one database, as two replicas behind a load balancer run. */
export interface Replicas {
  readonly a: TestApi;
  readonly b: TestApi;
  /** Stops both and drops their Redis keys. */
  close(): Promise<void>;
}

/**
 * Two replicas with the same settings: the same database, Redis prefix (limits, evictions) and server keys, and
 * each its own pools, caches and after-response work.
 */
export async function startReplicas(db: TestDatabase, env: Record<string, string> = {}): Promise<Replicas> {
  const a = await startTestApi(db, env);
  const stopA = async () => {
    await a.close();
    await dropPrefix(a.redisPrefix);
  };
  let b: TestApi;
  try {
    b = await startTestApi(db, {
      ...env,
      REDIS_PREFIX: a.redisPrefix,
      JWT_KEYS_DIR: a.keysDir,
      FERNET_KEYS_FILE: join(a.keysDir, 'fernet'),
      BASTION_SERVER_SECRET_FILE: join(a.keysDir, 'server-secret'),
    });
  } catch (error) {
    await stopA();
    throw error;
  }
  return {
    a,
    b,
    close: async () => {
      await b.close();
      await stopA();
    },
  };
}

/** The real API, in process, on a free port, against a test database and a prefixed Redis. */
export async function startTestApi(db: TestDatabase, env: Record<string, string> = {}): Promise<TestApi> {
  const dir = mkdtempSync(join(tmpdir(), 'bastion-api-'));
  const mailDir = join(dir, 'mail');
  const keysDir = join(dir, 'keys');
  const prefix = redisPrefix('api');
  const logs: string[] = [];
  // PORT must be known before listening (issuer, allowed origins): reserve one first.
  const { freePort } = await import('./ports');
  const port = await freePort();
  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: String(port),
    DATABASE_URL: db.adminUrl,
    REDIS_URL: redisUrl(),
    REDIS_PREFIX: prefix,
    MAIL_OUTBOX: mailDir,
    JWT_KEYS_DIR: keysDir,
    FERNET_KEYS_FILE: join(keysDir, 'fernet'),
    REPOS_ROOT: join(dir, 'repos'),
    BASTION_SERVER_SECRET_FILE: join(keysDir, 'server-secret'),
    LOG_LEVEL: 'debug',
    ...kmsSettingsOfRun(),
    ...env,
  });
  const logger = new JsonLogger('api', 'debug', (line) => logs.push(line));
  const app = await createApi(config, logger);
  await app.listen(port, '127.0.0.1');
  const base = `http://127.0.0.1:${port}`;
  return {
    base,
    origin: `http://localhost:${port}`,
    app,
    mailDir,
    keysDir,
    redisPrefix: prefix,
    logs,
    settled: () => app.get(AfterResponse, { strict: false }).drain(),
    close: () => app.close(),
  };
}
