import { readFileSync, statSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type Redis from 'ioredis';
import type { Pool } from 'pg';
import { AuditKeyDirectory } from '../../libs/infra/src/audit';
import { sealedCount, seedAuditEvents } from '../../libs/infra/src/audit/testing/seed-audit-trail';
import { Sealer } from '../../libs/infra/src/audit-sealer/sealer';
import { openRedis } from '../../libs/infra/src/queue/redis';
import { type TestApi, startTestApi } from '../support/api';
import { closePools, isolatedDatabase, poolFor, type TestDatabase } from '../support/database';
import { eventually } from '../support/events';
import { call, refreshCookie } from '../support/http';
import { newOrg, type OrgFixture } from '../support/orgs';
import { type RunningApp, startApp, stopApp } from '../support/processes';
import { dropPrefix } from '../support/redis';
import { redisUrl } from '../support/services';
import { awayFromStepEdge, oathtool } from '../support/totp';

/**
 * Export of 1,000,000 events in flat memory (issue #7). The events are loaded set-based into a database of their
 * own and sealed by the real sealer; the export is requested over HTTP and written by the real worker process
 * (dist/apps/worker), whose peak resident set (VmHWM, what `process.resourceUsage().maxRSS` reports inside it) is
 * read before and after. A file of this size is several hundred MB: an export that held it, or its events, in
 * memory would show here. AUDIT_MILLION_EVENTS changes the count for a local run.
 */
const EVENTS = Number(process.env.AUDIT_MILLION_EVENTS ?? 1_000_000);
const MB = 1024 * 1024;

let db: TestDatabase;
let api: TestApi;
let admin: Pool;
let sealer: Sealer | undefined;
let worker: RunningApp | undefined;
const redis: Redis[] = [];
const dir = mkdtempSync(join(tmpdir(), 'bastion-audit-million-'));

beforeAll(async () => {
  db = await isolatedDatabase();
  api = await startTestApi(db, { AUDIT_EXPORTS_DIR: join(dir, 'exports') });
  admin = poolFor(db.adminUrl, 2);
});
afterAll(async () => {
  if (worker) await stopApp(worker);
  await sealer?.stop();
  redis.forEach((r) => r.disconnect());
  await api?.close();
  await closePools();
  if (api) await dropPrefix(api.redisPrefix);
  await dropDatabase();
});

async function dropDatabase(): Promise<void> {
  if (!db) return;
  const { Client } = await import('pg');
  const { adminUrl } = await import('../support/services');
  const client = new Client({ connectionString: adminUrl() });
  await client.connect();
  await client.query(`drop database if exists ${db.name} with (force)`).finally(() => client.end());
}

/** Peak and current resident set of a process, in bytes (Linux /proc). */
function memoryOf(pid: number): { peak: number; current: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)![1]) * 1024;
  return { peak: kb('VmHWM'), current: kb('VmRSS') };
}

/** Access tokens live 5 minutes and loading and sealing take longer: the admin refreshes, then steps up. */
async function freshToken(session: { cookie: string }): Promise<string> {
  const reply = await call(api, 'POST', '/v1/auth/refresh', { cookie: session.cookie, body: {} });
  expect(reply.status).toBe(200);
  session.cookie = refreshCookie(reply) ?? session.cookie;
  return reply.body.accessToken as string;
}

async function stepUp(token: string): Promise<void> {
  const started = await call(api, 'POST', '/v1/auth/mfa/totp/enroll', { token });
  await awayFromStepEdge();
  await call(api, 'POST', '/v1/auth/mfa/totp/confirm', { token, body: { code: oathtool(started.body.secret as string) } });
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

describe('an audit export of 1,000,000 events', () => {
  it('completes with flat memory in the worker that writes it (peak RSS recorded)', async () => {
    const timings: string[] = [];
    const org: OrgFixture = await newOrg(api);
    const session = { cookie: org.admin.cookie };

    let t = performance.now();
    await seedAuditEvents(admin, org.orgId, EVENTS);
    timings.push(`seed ${EVENTS} events: ${seconds(performance.now() - t)}`);

    t = performance.now();
    const keys = await new AuditKeyDirectory(join(dir, 'keys')).loadOrGenerate(new Date());
    sealer = new Sealer(poolFor(db.urlFor('bastion_sealer'), 4), keys, {
      checkpointEvery: 10_000,
      checkpointSeconds: 3600,
      verifySeconds: 0,
      redisPrefix: api.redisPrefix,
      batchSize: 5000,
    });
    await sealer.publishKeys();
    redis.push(await openRedis(redisUrl()), await openRedis(redisUrl()));
    await sealer.serveSignRequests(redis[0]!, redis[1]!);
    sealer.start();
    const stored = Number((await admin.query('select count(*) as n from events where org_id = $1', [org.orgId])).rows[0].n);
    await eventually(async () => ((await sealedCount(admin, org.orgId)) >= stored ? true : undefined), 900_000, 500);
    timings.push(`seal ${stored} events: ${seconds(performance.now() - t)}`);

    worker = startApp('worker', {
      DATABASE_URL: db.adminUrl,
      REDIS_URL: redisUrl(),
      REDIS_PREFIX: api.redisPrefix,
      AUDIT_EXPORTS_DIR: join(dir, 'exports'),
      LOG_LEVEL: 'info',
    });
    await eventually(async () => (worker!.output().includes('worker running') ? true : undefined), 20_000, 50);
    const before = memoryOf(worker.child.pid!);

    let token = await freshToken(session);
    await stepUp(token);
    t = performance.now();
    const requested = await call(api, 'POST', `/v1/orgs/${org.orgId}/audit/exports`, { token, body: {} });
    expect(requested.status).toBe(202);
    const exportId = requested.body.exportId as string;
    await eventually(
      async () => ((await admin.query('select 1 from events where stream_id = $1 and revision = 1', [`audit-export-${exportId}`])).rowCount === 1 ? true : undefined),
      900_000,
      250,
    );
    const exportMs = performance.now() - t;
    const after = memoryOf(worker.child.pid!);
    token = await freshToken(session);
    const status = (await call(api, 'GET', `/v1/orgs/${org.orgId}/audit/exports/${exportId}`, { token })).body;

    // Every event sealed when it was requested: the loaded ones and the organisation's own.
    expect(status).toMatchObject({ status: 'completed', fromCount: 1, problem: null });
    expect(status.events).toBe(status.toCount);
    expect(status.events).toBeGreaterThanOrEqual(stored);
    expect(status.finalCheckpoint).toMatchObject({ count: status.toCount });
    const bytes = statSync(join(dir, 'exports', org.orgId, `${exportId}.jsonl`)).size;
    timings.push(
      `export ${stored} events (${(bytes / MB).toFixed(0)} MB) in the worker: ${seconds(exportMs)}, ` +
        `${Math.round(stored / (exportMs / 1000)).toLocaleString('en')} events/s; ` +
        `worker peak RSS ${(before.peak / MB).toFixed(0)} MB before, ${(after.peak / MB).toFixed(0)} MB after ` +
        `(+${((after.peak - before.peak) / MB).toFixed(0)} MB), RSS now ${(after.current / MB).toFixed(0)} MB`,
    );
    console.log(`audit export of ${EVENTS.toLocaleString('en')} events:\n  ${timings.join('\n  ')}`);

    // Flat: the export's growth is a small fraction of the file, whatever its size.
    expect(after.peak - before.peak).toBeLessThan(Math.max(64 * MB, bytes / 8));
    expect(after.peak).toBeLessThan(400 * MB);
  }, 1_800_000);
});
