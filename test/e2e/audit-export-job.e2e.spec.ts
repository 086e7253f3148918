import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Job, Queue, Worker } from 'bullmq';
import type Redis from 'ioredis';
import type { Pool } from 'pg';
import { exportAuditTrail } from '../../apps/worker/src/audit/export-audit-trail.processor';
import { AuditKeyDirectory, AuditSigningClient } from '../../libs/infra/src/audit';
import { Sealer } from '../../libs/infra/src/audit-sealer/sealer';
import { PostgresEventStore } from '../../libs/infra/src/event-store/postgres/postgres-event-store.adapter';
import { type AuditExportJob, bullPrefix, QUEUES } from '../../libs/infra/src/queue/queues';
import { openRedis } from '../../libs/infra/src/queue/redis';
import { type TestApi, startTestApi } from '../support/api';
import { closePools, poolFor, type TestDatabase, workerDatabase } from '../support/database';
import { eventually } from '../support/events';
import { mfaFreshAdmin as mfaFreshAdminOf, sealedOrg } from '../support/audit';
import { call } from '../support/http';
import { addMember, newAgent, newOrg, type OrgFixture } from '../support/orgs';
import { runCli } from '../support/processes';
import { dropPrefix } from '../support/redis';
import { redisUrl } from '../support/services';

let db: TestDatabase;
let api: TestApi;
let admin: Pool;
let sealer: Sealer;
let worker: Worker<AuditExportJob>;
let signing: AuditSigningClient;
let workerPool: Pool;
const redis: Redis[] = [];
const dir = mkdtempSync(join(tmpdir(), 'bastion-audit-jobs-'));
const exportsDir = join(dir, 'exports');

beforeAll(async () => {
  db = await workerDatabase();
  api = await startTestApi(db, { AUDIT_EXPORTS_DIR: exportsDir });
  admin = poolFor(db.adminUrl);
  const keys = await new AuditKeyDirectory(join(dir, 'keys')).loadOrGenerate(new Date());
  sealer = new Sealer(poolFor(db.urlFor('bastion_sealer')), keys, { checkpointEvery: 5, checkpointSeconds: 3600, verifySeconds: 0, redisPrefix: api.redisPrefix });
  await sealer.publishKeys();
  // BullMQ never closes a connection it was handed (worker.close() quits only the ones it made): index 4 is the
  // worker's, disconnected with the others in afterAll.
  for (let i = 0; i < 5; i += 1) redis.push(await openRedis(redisUrl()));
  await sealer.serveSignRequests(redis[0]!, redis[1]!);
  sealer.start();
  // The worker's processor as apps/worker runs it: its own role, its own Redis, asking the sealer to sign.
  workerPool = poolFor(db.urlFor('bastion_worker'));
  signing = new AuditSigningClient(redis[2]!, redis[3]!, api.redisPrefix);
  worker = new Worker<AuditExportJob>(
    QUEUES.auditExports,
    async (job: Job<AuditExportJob>) =>
      exportAuditTrail({ store: new PostgresEventStore(workerPool), pool: workerPool, signing, dir: exportsDir }, job.data, { final: job.attemptsMade + 1 >= (job.opts.attempts ?? 1) }),
    { connection: redis[4]!, prefix: bullPrefix(api.redisPrefix) },
  );
});
afterAll(async () => {
  await worker?.close();
  signing?.close();
  await sealer?.stop();
  redis.forEach((r) => r.disconnect());
  await api?.close();
  await closePools();
  if (api) await dropPrefix(api.redisPrefix);
});

const sealed = (orgId: string) => sealedOrg(admin, orgId);
const mfaFreshAdmin = () => mfaFreshAdminOf(api);

async function orgWithTasks(n: number): Promise<OrgFixture> {
  const org = await mfaFreshAdmin();
  for (let i = 0; i < n; i += 1) await call(api, 'POST', `/v1/orgs/${org.orgId}/tasks`, { token: org.admin.accessToken, body: { title: `t${i}` } });
  await sealed(org.orgId);
  return org;
}

async function requestExport(org: OrgFixture, body: Record<string, unknown> = {}): Promise<string> {
  const reply = await call(api, 'POST', `/v1/orgs/${org.orgId}/audit/exports`, { token: org.admin.accessToken, body });
  expect(reply.status).toBe(202);
  expect(reply.body.status).toBe('pending');
  return reply.body.exportId as string;
}

async function finished(org: OrgFixture, exportId: string): Promise<Record<string, unknown>> {
  return eventually(async () => {
    const reply = await call(api, 'GET', `/v1/orgs/${org.orgId}/audit/exports/${exportId}`, { token: org.admin.accessToken });
    expect(reply.status).toBe(200);
    return reply.body.status === 'pending' ? undefined : reply.body;
  }, 20000);
}

async function download(org: OrgFixture, exportId: string, token = org.admin.accessToken, orgId = org.orgId): Promise<{ status: number; text: string; type: string | null }> {
  const response = await fetch(`${api.base}/v1/orgs/${orgId}/audit/exports/${exportId}/download`, { headers: { authorization: `Bearer ${token}` } });
  return { status: response.status, text: await response.text(), type: response.headers.get('content-type') };
}

function verify(file: string): { status: number | null; out: string } {
  const run = runCli({}, 'audit', 'verify', file, '--keys', join(dir, 'audit-keys.json'));
  return { status: run.status, out: run.stdout + run.stderr };
}

async function saveKeys(): Promise<void> {
  writeFileSync(join(dir, 'audit-keys.json'), JSON.stringify((await call(api, 'GET', '/.well-known/audit-keys.json')).body));
}

const eventLines = (text: string) => text.split('\n').filter((line) => line.startsWith('{"kind":"event"'));

describe('audit exports written to a file by the audit-exports job', () => {
  it('an admin requests an export; the job writes the same export as the streamed GET to a 0600 file that verifies offline; request and completion are audited', async () => {
    const org = await orgWithTasks(12);
    await saveKeys();
    const exportId = await requestExport(org);
    const status = await finished(org, exportId);
    expect(status).toMatchObject({ exportId, status: 'completed', format: 'jsonl', fromCount: 1, problem: null });
    expect(status.events).toBe(Number(status.toCount));
    expect(status.finalCheckpoint).toMatchObject({ count: status.toCount, head: expect.stringMatching(/^[0-9a-f]{64}$/) });

    // The job carries ids only, and its id is derived from the export.
    const queue = new Queue(QUEUES.auditExports, { connection: redis[2]!, prefix: bullPrefix(api.redisPrefix) });
    const job = await queue.getJob(`audit-export-${exportId}`);
    expect(Object.keys(job!.data).sort()).toEqual(['causationEventId', 'correlationId', 'exportId', 'orgId']);
    await queue.close();

    // On disk: under the organisation, the owner only, no temporary file left behind.
    const file = join(exportsDir, org.orgId, `${exportId}.jsonl`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(exportsDir, org.orgId)).mode & 0o777).toBe(0o700);
    expect(readdirSync(join(exportsDir, org.orgId)).filter((name) => name.includes('partial'))).toEqual([]);

    const got = await download(org, exportId);
    expect(got.status).toBe(200);
    expect(got.type).toContain('application/x-ndjson');
    expect(got.text).toBe(readFileSync(file, 'utf8'));
    const downloaded = join(dir, `${exportId}.jsonl`);
    writeFileSync(downloaded, got.text);
    const result = verify(downloaded);
    expect(result.out).toMatch(new RegExp(`^verified ${String(status.events)} events`));
    expect(result.status).toBe(0);

    // The same code as the streamed export: the same header state and the same event records, byte for byte.
    const streamed = await (await fetch(`${api.base}/v1/orgs/${org.orgId}/audit/export`, { headers: { authorization: `Bearer ${org.admin.accessToken}` } })).text();
    const fileEvents = eventLines(got.text);
    expect(fileEvents.length).toBe(status.events);
    expect(eventLines(streamed).slice(0, fileEvents.length)).toEqual(fileEvents);

    const audited = await admin.query(
      `select type, metadata -> 'actor' ->> 'type' as actor_type, metadata -> 'actor' ->> 'id' as actor_id, data from events where stream_id = $1 order by revision`,
      [`audit-export-${exportId}`],
    );
    expect(audited.rows.map((r) => [r.type, r.actor_type])).toEqual([
      ['AuditExported', 'human'],
      ['AuditExportCompleted', 'system'],
    ]);
    expect(audited.rows[0].actor_id).toBe(org.admin.userId);
    expect(audited.rows[0].data).toMatchObject({ orgId: org.orgId, exportId, delivery: 'file', format: 'jsonl' });
    expect(audited.rows[1].data).toMatchObject({ orgId: org.orgId, exportId, events: status.events, bytes: got.text.length });
  });

  it('a CSV file export of a time window verifies offline too', async () => {
    const org = await orgWithTasks(6);
    await saveKeys();
    const exportId = await requestExport(org, { format: 'csv', from: '2000-01-01T00:00:00Z' });
    expect(await finished(org, exportId)).toMatchObject({ status: 'completed', format: 'csv' });
    const got = await download(org, exportId);
    expect(got.status).toBe(200);
    expect(got.type).toContain('text/csv');
    const file = join(dir, `${exportId}.csv`);
    writeFileSync(file, got.text);
    expect(verify(file).status).toBe(0);
  });

  it('a viewer, a member and an agent cannot request, read or download an export', async () => {
    const org = await orgWithTasks(1);
    const exportId = await requestExport(org);
    await finished(org, exportId);
    const viewer = await addMember(api, org, 'viewer');
    const member = await addMember(api, org, 'member');
    const agent = await newAgent(api, org);
    for (const token of [viewer.accessToken, member.accessToken]) {
      expect((await call(api, 'POST', `/v1/orgs/${org.orgId}/audit/exports`, { token, body: {} })).status).toBe(403);
      expect((await call(api, 'GET', `/v1/orgs/${org.orgId}/audit/exports/${exportId}`, { token })).status).toBe(403);
      const got = await download(org, exportId, token);
      expect(got.status).toBe(403);
      expect(got.text).not.toContain('"kind":"event"');
    }
    // Human-only routes answer an agent token like any failed authentication.
    expect((await call(api, 'POST', `/v1/orgs/${org.orgId}/audit/exports`, { token: agent.token, body: {} })).status).toBe(401);
    expect((await call(api, 'GET', `/v1/orgs/${org.orgId}/audit/exports/${exportId}`, { token: agent.token })).status).toBe(401);
    expect((await download(org, exportId, agent.token)).status).toBe(401);
    const requested = await admin.query("select count(*)::int as n from events where org_id = $1 and type = 'AuditExported'", [org.orgId]);
    expect(requested.rows[0].n).toBe(1);
  });

  it('an admin of org B cannot read or download org A’s export, even by its id, under either organisation', async () => {
    const a = await orgWithTasks(2);
    const b = await orgWithTasks(1);
    const exportId = await requestExport(a);
    await finished(a, exportId);
    const bToken = b.admin.accessToken;
    // Under org A's URL: B's admin holds no permission there.
    expect((await call(api, 'GET', `/v1/orgs/${a.orgId}/audit/exports/${exportId}`, { token: bToken })).status).toBe(403);
    expect((await download(a, exportId, bToken)).status).toBe(403);
    // Under org B's URL, where B's admin may export: A's export id is not found, and no file of A is served.
    expect((await call(api, 'GET', `/v1/orgs/${b.orgId}/audit/exports/${exportId}`, { token: bToken })).status).toBe(404);
    const got = await download(a, exportId, bToken, b.orgId);
    expect(got.status).toBe(404);
    expect(got.text).not.toContain(a.orgId);
    // A job forged to name A's export under B finds no export of B and writes nothing.
    const forged = await exportAuditTrail(
      { store: new PostgresEventStore(workerPool), pool: workerPool, signing, dir: exportsDir },
      { orgId: b.orgId, exportId, causationEventId: exportId, correlationId: exportId },
      { final: true },
    );
    expect(forged).toBe('no-such-export');
    expect(() => statSync(join(exportsDir, b.orgId, `${exportId}.jsonl`))).toThrow();
  });

  it('requesting and downloading an export need a fresh MFA verification (step-up)', async () => {
    const stale = await newOrg(api);
    const refused = await call(api, 'POST', `/v1/orgs/${stale.orgId}/audit/exports`, { token: stale.admin.accessToken, body: {} });
    expect(refused.status).toBe(403);
    expect(refused.body.type).toBe('urn:bastion:problem:step-up-required');
    const none = await admin.query("select count(*)::int as n from events where org_id = $1 and type = 'AuditExported'", [stale.orgId]);
    expect(none.rows[0].n).toBe(0);

    const org = await orgWithTasks(1);
    const exportId = await requestExport(org);
    await finished(org, exportId);
    // The admin's verification ages past the step-up window.
    await admin.query("update authz.sessions set mfa_at = now() - interval '1 hour' where principal_id = $1", [org.admin.userId]);
    const got = await download(org, exportId);
    expect(got.status).toBe(403);
    expect(JSON.parse(got.text).type).toBe('urn:bastion:problem:step-up-required');
  });

  it('the job is idempotent: a re-run after completion records nothing and leaves the file as it was', async () => {
    const org = await orgWithTasks(1);
    const exportId = await requestExport(org);
    await finished(org, exportId);
    const file = join(exportsDir, org.orgId, `${exportId}.jsonl`);
    const before = readFileSync(file, 'utf8');
    const again = await exportAuditTrail(
      { store: new PostgresEventStore(workerPool), pool: workerPool, signing, dir: exportsDir },
      { orgId: org.orgId, exportId, causationEventId: exportId, correlationId: exportId },
      { final: true },
    );
    expect(again).toBe('already-recorded');
    expect(readFileSync(file, 'utf8')).toBe(before);
    const completed = await admin.query("select count(*)::int as n from events where stream_id = $1 and type = 'AuditExportCompleted'", [`audit-export-${exportId}`]);
    expect(completed.rows[0].n).toBe(1);
  });

  it('a superuser edit behind disabled triggers: the file export completes without a final checkpoint and fails verification at that position', async () => {
    const org = await orgWithTasks(6);
    await saveKeys();
    const victim = (await admin.query("select position from events where org_id = $1 and type = 'TaskCreated' order by position limit 1 offset 2", [org.orgId])).rows[0].position;
    const client = await admin.connect();
    try {
      await client.query('alter table events disable trigger events_no_update_or_delete');
      await client.query(`update events set data = jsonb_set(data, '{title}', '"rewritten"') where position = $1`, [victim]);
    } finally {
      await client.query('alter table events enable always trigger events_no_update_or_delete');
      client.release();
    }
    const exportId = await requestExport(org);
    const status = await finished(org, exportId);
    expect(status).toMatchObject({ status: 'completed', finalCheckpoint: null, problem: expect.stringContaining('no longer match') });
    const got = await download(org, exportId);
    const file = join(dir, `${exportId}-tampered.jsonl`);
    writeFileSync(file, got.text);
    const result = verify(file);
    expect(result.status).toBe(1);
    expect(result.out).toMatch(/hash-mismatch/);
    expect(result.out).toContain(String(victim));
  });
});
