import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pool } from 'pg';
import { PostgresEventStore } from '../../libs/infra/src/event-store/postgres/postgres-event-store.adapter';
import { closePools, isolatedDatabase, poolFor, type TestDatabase } from '../support/database';
import { eventually, newEvent } from '../support/events';
import { freePort } from '../support/ports';
import { type RunningApp, startApp, stopApp } from '../support/processes';
import { dropPrefix, redisPrefix } from '../support/redis';
import { redisUrl } from '../support/services';

let db: TestDatabase;
let projector: Pool;
let store: PostgresEventStore;
let prefix: string;
const running: RunningApp[] = [];

const keys = mkdtempSync(join(tmpdir(), 'bastion-foundation-'));

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: db.adminUrl,
    REDIS_URL: redisUrl(),
    REDIS_PREFIX: prefix,
    PROJECTOR_POLL_MS: '10',
    AUDIT_KEYS_DIR: join(keys, 'audit'),
    JWT_KEYS_DIR: join(keys, 'jwt'),
    BASTION_SERVER_SECRET_FILE: join(keys, 'server-secret'),
    FERNET_KEYS_FILE: join(keys, 'fernet'),
    MAIL_OUTBOX: join(keys, 'mail'),
    ...extra,
  };
}
function start(app: 'api' | 'projector' | 'worker', extra: Record<string, string> = {}, args: string[] = []): RunningApp {
  const handle = startApp(app, env(extra), args);
  running.push(handle);
  return handle;
}
async function checkpoint(name: string): Promise<number> {
  const { rows } = await projector.query('select events_seen from projection_checkpoints where name = $1', [name]);
  return rows.length ? Number(rows[0].events_seen) : 0;
}

beforeAll(async () => {
  db = await isolatedDatabase();
  prefix = redisPrefix('foundation');
  projector = poolFor(db.urlFor('bastion_projector'));
  store = new PostgresEventStore(poolFor(db.urlFor('bastion_worker')));
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((app) => stopApp(app, 'SIGKILL')));
});
afterAll(async () => {
  await closePools();
  await dropPrefix(prefix);
});

describe('the projector process', () => {
  it('killed with SIGKILL mid-stream, it loses nothing and applies nothing twice', async () => {
    const orgs = Array.from({ length: 5 }, () => randomUUID());
    const appendRound = async (perOrg: number) => {
      for (const orgId of orgs) {
        for (let done = 0; done < perOrg; done += 1000) {
          const batch = Array.from({ length: Math.min(1000, perOrg - done) }, (_, i) => newEvent('TaskMoved', { i }, { orgId }));
          await store.append(`task-${randomUUID()}`, batch, 'no_stream');
        }
      }
    };
    await appendRound(2000);
    let expected = 2000;
    let partialKills = 0;
    for (let round = 0; round < 3; round += 1) {
      const app = start('projector');
      const seenAtStart = await checkpoint('org_activity');
      // Kill as soon as it has made progress: usually between two batches, sometimes inside one.
      await eventually(async () => ((await checkpoint('org_activity')) > seenAtStart ? true : undefined), 20000, 2);
      await stopApp(app, 'SIGKILL');
      if ((await checkpoint('org_activity')) < orgs.length * expected) partialKills += 1;
      await appendRound(300);
      expected += 300;
    }
    expect(partialKills).toBeGreaterThan(0); // otherwise this test proved nothing
    start('projector');
    await eventually(async () => ((await checkpoint('org_activity')) >= orgs.length * expected ? true : undefined), 60000);
    const { rows } = await projector.query<{ org_id: string; event_count: string }>(
      'select org_id, event_count from org_activity where org_id = any($1::uuid[])',
      [orgs],
    );
    expect(rows).toHaveLength(orgs.length);
    for (const row of rows) expect(Number(row.event_count)).toBe(expected);
    expect(await checkpoint('org_activity')).toBe(orgs.length * expected);
  }, 180_000);
});

describe('a job enqueued by the projector, run by the worker', () => {
  it('OrganizationCreated becomes one provisioning job that appends OrganizationProvisioned, once, even when replayed', async () => {
    start('projector');
    start('worker');
    const orgId = randomUUID();
    const created = newEvent('OrganizationCreated', { orgId, name: 'Acme', createdBy: randomUUID(), providerId: null }, { orgId });
    await store.append(`org-${orgId}`, [created], 'no_stream');

    const provisioned = await eventually(async () => {
      const events = await store.readStream(`org-${orgId}`);
      return events.length === 2 ? events : undefined;
    }, 20000);
    expect(provisioned.map((e) => e.type)).toEqual(['OrganizationCreated', 'OrganizationProvisioned']);
    expect(provisioned[1]!.metadata).toMatchObject({
      orgId,
      actor: { type: 'system' },
      causationId: created.id,
      correlationId: created.metadata.correlationId,
    });
    await eventually(async () => {
      const { rows } = await projector.query('select provisioned_at from organizations where org_id = $1', [orgId]);
      return rows[0]?.provisioned_at ? true : undefined;
    });

    // Replay the reactor from position 0: it re-enqueues with the same job ids, and nothing runs twice.
    await projector.query("update projection_checkpoints set position = null where name = 'enqueue-provisioning-when-organization-created'");
    for (const app of running.splice(0)) await stopApp(app, 'SIGTERM');
    start('projector');
    start('worker');
    await eventually(async () => {
      const { rows } = await projector.query(
        "select position from projection_checkpoints where name = 'enqueue-provisioning-when-organization-created'",
      );
      return rows[0]?.position ? true : undefined;
    });
    await new Promise((r) => setTimeout(r, 1000));
    expect((await store.readStream(`org-${orgId}`)).map((e) => e.type)).toEqual(['OrganizationCreated', 'OrganizationProvisioned']);
  });

  it('the worker and the projector stop gracefully on SIGTERM', async () => {
    const worker = start('worker', { LOG_LEVEL: 'info' });
    const projectorApp = start('projector', { LOG_LEVEL: 'info' });
    await eventually(async () => (worker.output().includes('worker running') ? true : undefined));
    await eventually(async () => (projectorApp.output().includes('projector running') ? true : undefined));
    expect(await stopApp(worker, 'SIGTERM')).toBe(0);
    expect(await stopApp(projectorApp, 'SIGTERM')).toBe(0);
    expect(worker.output()).toContain('"msg":"stopped"');
  });
});

describe('the API process', () => {
  it('answers liveness, readiness (database, event store, Redis), OpenAPI and problem+json', async () => {
    const port = await freePort();
    start('api', { PORT: String(port) });
    const base = `http://127.0.0.1:${port}`;
    await eventually(async () => {
      try {
        return (await fetch(`${base}/health/live`)).ok ? true : undefined;
      } catch {
        return undefined;
      }
    }, 20000, 100);
    const ready = await fetch(`${base}/health/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { database: 'up', eventStore: 'up', redis: 'up' } });
    const docs = await fetch(`${base}/docs-json`);
    expect(docs.status).toBe(200);
    expect(Object.keys(((await docs.json()) as { paths: object }).paths)).toEqual(expect.arrayContaining(['/health/live', '/health/ready']));
    const missing = await fetch(`${base}/v1/nothing-here`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await missing.json()).toMatchObject({ type: 'urn:bastion:problem:not-found', status: 404 });
  });
});

describe('bad configuration fails at start-up with one clear sentence', () => {
  const cases: [string, Record<string, string>, RegExp][] = [
    ['a wrong EVENT_STORE', { EVENT_STORE: 'mongo' }, /EVENT_STORE must be "postgres" or "eventstoredb" \(got "mongo"\)/],
    ['EventStoreDB without its URL', { EVENT_STORE: 'eventstoredb' }, /EVENTSTOREDB_URL is required when EVENT_STORE=eventstoredb/],
    ['an unreachable database', { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/bastion' }, /PostgreSQL \(as bastion_app\) is not reachable at postgres:\/\/bastion_app@127\.0\.0\.1:1\/bastion \(ECONNREFUSED\)/],
    ['an unreachable Redis', { REDIS_URL: 'redis://127.0.0.1:1' }, /Redis is not reachable at redis:\/\/127\.0\.0\.1:1 \(/],
  ];
  it.each(cases)('%s', async (_name, extra, message) => {
    const app = start('api', { PORT: String(await freePort()), ...extra });
    expect(await app.exited).toBe(1);
    const output = app.output().trim();
    expect(output).toMatch(message);
    expect(output).not.toMatch(/\n\s+at /); // no stack trace
  });
});
