/** The API listens on HOST: loopback by default (README), and a HOST that is not this machine's stops it in one sentence. */
import { mkdtempSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { closePools, type TestDatabase, workerDatabase } from '../support/database';
import { eventually } from '../support/events';
import { freePort } from '../support/ports';
import { type RunningApp, startApp, stopApp } from '../support/processes';
import { dropPrefix, redisPrefix } from '../support/redis';
import { redisUrl } from '../support/services';

let db: TestDatabase;
let prefix: string;
const running: RunningApp[] = [];
const dir = mkdtempSync(join(tmpdir(), 'bastion-api-host-'));

async function start(extra: Record<string, string>): Promise<{ app: RunningApp; port: number }> {
  const port = await freePort();
  const app = startApp('api', {
    LOG_LEVEL: 'info',
    PORT: String(port),
    DATABASE_URL: db.adminUrl,
    REDIS_URL: redisUrl(),
    REDIS_PREFIX: prefix,
    JWT_KEYS_DIR: join(dir, 'jwt'),
    BASTION_SERVER_SECRET_FILE: join(dir, 'server-secret'),
    FERNET_KEYS_FILE: join(dir, 'fernet'),
    MAIL_OUTBOX: join(dir, 'mail'),
    REPOS_ROOT: join(dir, 'repos'),
    ...extra,
  });
  running.push(app);
  return { app, port };
}

beforeAll(async () => {
  db = await workerDatabase();
  prefix = redisPrefix('api-host');
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((app) => stopApp(app, 'SIGKILL')));
});
afterAll(async () => {
  await closePools();
  await dropPrefix(prefix);
});

describe('the address the API listens on', () => {
  it('is 127.0.0.1 unless HOST says otherwise', async () => {
    const { app, port } = await start({});
    const line = await eventually(async () => app.output().split('\n').find((l) => l.includes('"api listening"')), 20000, 50);
    expect(JSON.parse(line)).toMatchObject({ host: '127.0.0.1', port });
    expect((await fetch(`http://127.0.0.1:${port}/health/live`)).status).toBe(200);
    // Not on this machine's other addresses (when it has one: CI containers do).
    const external = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
    if (external) await expect(fetch(`http://${external}:${port}/health/live`)).rejects.toThrow();
  });

  it('a HOST that is not an address of this machine stops it with one sentence', async () => {
    const { app } = await start({ HOST: '203.0.113.77', LOG_LEVEL: 'warn' }); // TEST-NET-3, documentation only
    expect(await app.exited).toBe(1);
    const output = app.output().trim();
    // Nest logs the listen error as a JSON line first; the process's own last word is the sentence.
    expect(output.split('\n').at(-1)).toBe('api: HOST "203.0.113.77" is not an address of this machine; set HOST (default 127.0.0.1).');
    expect(output).not.toMatch(/\n\s+at /); // no stack trace
  });
});
