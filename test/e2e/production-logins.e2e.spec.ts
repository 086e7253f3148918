/**
 * In production each built process holds no database login but its own (libs/infra/src/database/process-logins.ts):
 * given the bootstrap superuser's URL it exits 1 with one sentence; given its own login it runs. The API's side,
 * with everything else production needs, is apps/api/src/infrastructure.int.spec.ts.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closePools, isolatedDatabase, type TestDatabase } from '../support/database';
import { eventually } from '../support/events';
import { type RunningApp, startApp, stopApp } from '../support/processes';
import { dropPrefix, redisPrefix } from '../support/redis';
import { redisUrl } from '../support/services';

let db: TestDatabase;
let prefix: string;
const running: RunningApp[] = [];
const dir = mkdtempSync(join(tmpdir(), 'bastion-production-logins-'));

function start(app: 'api' | 'projector' | 'worker', DATABASE_URL: string): RunningApp {
  const handle = startApp(app, {
    NODE_ENV: 'production',
    LOG_LEVEL: 'info',
    DATABASE_URL,
    REDIS_URL: redisUrl(),
    REDIS_PREFIX: prefix,
    AUDIT_KEYS_DIR: join(dir, 'audit'),
    AUDIT_EXPORTS_DIR: join(dir, 'exports'),
    REPOS_ROOT: join(dir, 'repos'),
  });
  running.push(handle);
  return handle;
}

beforeAll(async () => {
  db = await isolatedDatabase();
  prefix = redisPrefix('production-logins');
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((app) => stopApp(app, 'SIGKILL')));
});
afterAll(async () => {
  await closePools();
  await dropPrefix(prefix);
});

describe('in production a process given the bootstrap superuser login refuses to start', () => {
  it.each([
    ['api', 'bastion_app'],
    ['worker', 'bastion_worker'],
    ['projector', 'bastion_projector or bastion_sealer'],
  ] as const)('the %s, naming the login it takes instead', async (app, logins) => {
    const handle = start(app, db.adminUrl);
    expect(await handle.exited).toBe(1);
    const output = handle.output().trim();
    expect(output).toBe(
      `${app}: In production this process logs in to PostgreSQL only as ${logins}, but DATABASE_URL logs in as "postgres": ` +
        `give it DATABASE_URL=postgres://${logins.split(' ')[0]}:<password>@<host>/<database> and keep the bootstrap login for the bastion CLI.`,
    );
  });
});

describe('in production a process given its own login runs', () => {
  it.each([
    ['worker', 'bastion_worker'],
    ['projector', 'bastion_projector'],
  ] as const)('the %s as %s', async (app, role) => {
    const handle = start(app, db.urlFor(role));
    await eventually(async () => (handle.output().includes(`${app} running`) ? true : undefined), 20000, 50);
    expect(await stopApp(handle, 'SIGTERM')).toBe(0);
  });
});
