import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import type { Pool } from 'pg';
import { AuditKeyDirectory } from '../../libs/infra/src/audit';
import { Sealer } from '../../libs/infra/src/audit-sealer/sealer';
import { type TestApi, startTestApi } from '../support/api';
import { closePools, poolFor, type TestDatabase, workerDatabase } from '../support/database';
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
const redis: Redis[] = [];
const dir = mkdtempSync(join(tmpdir(), 'bastion-audit-'));

beforeAll(async () => {
  db = await workerDatabase();
  api = await startTestApi(db);
  admin = poolFor(db.adminUrl);
  const keys = await new AuditKeyDirectory(join(dir, 'keys')).loadOrGenerate(new Date());
  sealer = new Sealer(poolFor(db.urlFor('bastion_sealer')), keys, {
    checkpointEvery: 5,
    checkpointSeconds: 3600,
    verifySeconds: 0,
    redisPrefix: api.redisPrefix,
  });
  await sealer.publishKeys();
  redis.push(new Redis(redisUrl()), new Redis(redisUrl()));
  await sealer.serveSignRequests(redis[0]!, redis[1]!);
  sealer.start();
});
afterAll(async () => {
  await sealer?.stop();
  redis.forEach((r) => r.disconnect());
  await api?.close();
  await closePools();
  if (api) await dropPrefix(api.redisPrefix);
});

const sealed = (orgId: string) => sealedOrg(admin, orgId);
const mfaFreshAdmin = () => mfaFreshAdminOf(api);

async function exportTo(org: OrgFixture, file: string, format = 'jsonl'): Promise<number> {
  const response = await fetch(`${api.base}/v1/orgs/${org.orgId}/audit/export?format=${format}`, { headers: { authorization: `Bearer ${org.admin.accessToken}` } });
  writeFileSync(file, await response.text());
  return response.status;
}

function verify(file: string): { status: number | null; out: string } {
  const keys = join(dir, 'audit-keys.json');
  const run = runCli({}, 'audit', 'verify', file, '--keys', keys);
  return { status: run.status, out: run.stdout + run.stderr };
}

describe('the audit trail', () => {
  it('an admin queries the org’s trail, newest first, filtered, with a cursor', async () => {
    const org = await newOrg(api);
    for (let i = 0; i < 4; i += 1) await call(api, 'POST', `/v1/orgs/${org.orgId}/tasks`, { token: org.admin.accessToken, body: { title: `t${i}` } });
    await sealed(org.orgId);
    const page1 = await call(api, 'GET', `/v1/orgs/${org.orgId}/audit?limit=3`, { token: org.admin.accessToken });
    expect(page1.status).toBe(200);
    const entries = page1.body.entries as { type: string; position: string; actor: { id: string } }[];
    expect(entries.map((e) => e.type)).toEqual(['TaskCreated', 'TaskCreated', 'TaskCreated']);
    expect(BigInt(entries[0]!.position) > BigInt(entries[1]!.position)).toBe(true);
    const page2 = await call(api, 'GET', `/v1/orgs/${org.orgId}/audit?limit=3&cursor=${page1.body.nextCursor}`, { token: org.admin.accessToken });
    expect((page2.body.entries as { type: string }[]).map((e) => e.type)).toEqual(['TaskCreated', 'OrgKeyCreated', 'MemberAdded']);
    const onlyOrg = await call(api, 'GET', `/v1/orgs/${org.orgId}/audit?type=OrganizationCreated&order=asc`, { token: org.admin.accessToken });
    expect((onlyOrg.body.entries as { type: string }[]).map((e) => e.type)).toEqual(['OrganizationCreated']);
    expect((await call(api, 'GET', `/v1/orgs/${org.orgId}/audit?actorType=agent`, { token: org.admin.accessToken })).body.entries).toEqual([]);
  });

  it('a viewer, a member and an agent cannot query or export the trail; an admin of org A cannot see org B’s', async () => {
    const a = await newOrg(api);
    const b = await newOrg(api);
    const viewer = await addMember(api, a, 'viewer');
    const member = await addMember(api, a, 'member');
    const agent = await newAgent(api, a);
    for (const token of [viewer.accessToken, member.accessToken, b.admin.accessToken]) {
      expect((await call(api, 'GET', `/v1/orgs/${a.orgId}/audit`, { token })).status).toBe(403);
      expect((await call(api, 'GET', `/v1/orgs/${a.orgId}/audit/export`, { token })).status).toBe(403);
      expect((await call(api, 'GET', `/v1/orgs/${a.orgId}/audit/checkpoints`, { token })).status).toBe(403);
    }
    // An agent token on these human-only routes is refused like any failed authentication.
    for (const path of ['audit', 'audit/export', 'audit/checkpoints']) {
      expect((await call(api, 'GET', `/v1/orgs/${a.orgId}/${path}`, { token: agent.token })).status).toBe(401);
    }
  });

  it('export needs a fresh MFA verification (step-up)', async () => {
    const org = await newOrg(api);
    const reply = await call(api, 'GET', `/v1/orgs/${org.orgId}/audit/export`, { token: org.admin.accessToken });
    expect(reply.status).toBe(403);
    expect(reply.body.type).toBe('urn:bastion:problem:step-up-required');
  });

  it('an export verifies offline with the published audit keys, is itself audited, and checkpoints can be kept outside', async () => {
    const org = await mfaFreshAdmin();
    for (let i = 0; i < 12; i += 1) await call(api, 'POST', `/v1/orgs/${org.orgId}/tasks`, { token: org.admin.accessToken, body: { title: `t${i}`, description: 'secret' } });
    await sealed(org.orgId);
    writeFileSync(join(dir, 'audit-keys.json'), JSON.stringify((await call(api, 'GET', '/.well-known/audit-keys.json')).body));
    const file = join(dir, 'export.jsonl');
    expect(await exportTo(org, file)).toBe(200);
    const result = verify(file);
    expect(result.out).toMatch(/^verified \d+ events/);
    expect(result.status).toBe(0);
    const csv = join(dir, 'export.csv');
    expect(await exportTo(org, csv, 'csv')).toBe(200);
    expect(verify(csv).status).toBe(0);
    const checkpoints = await call(api, 'GET', `/v1/orgs/${org.orgId}/audit/checkpoints`, { token: org.admin.accessToken });
    expect((checkpoints.body.checkpoints as unknown[]).length).toBeGreaterThan(0);
    const exported = await admin.query("select count(*)::int as n from events where org_id = $1 and type = 'AuditExported'", [org.orgId]);
    expect(exported.rows[0].n).toBe(2);
  });

  it('a superuser edit behind disabled triggers is detected: the next export fails verification at that position, and the sealer raises an alert', async () => {
    const org = await mfaFreshAdmin();
    for (let i = 0; i < 6; i += 1) await call(api, 'POST', `/v1/orgs/${org.orgId}/tasks`, { token: org.admin.accessToken, body: { title: `t${i}` } });
    await sealed(org.orgId);
    writeFileSync(join(dir, 'audit-keys.json'), JSON.stringify((await call(api, 'GET', '/.well-known/audit-keys.json')).body));
    const victim = (await admin.query("select position from events where org_id = $1 and type = 'TaskCreated' order by position limit 1 offset 2", [org.orgId])).rows[0].position;
    const client = await admin.connect();
    try {
      await client.query('alter table events disable trigger events_no_update_or_delete');
      await client.query(`update events set data = jsonb_set(data, '{title}', '"rewritten"') where position = $1`, [victim]);
    } finally {
      await client.query('alter table events enable always trigger events_no_update_or_delete');
      client.release();
    }
    const file = join(dir, 'tampered.jsonl');
    expect(await exportTo(org, file)).toBe(200);
    const result = verify(file);
    expect(result.status).toBe(1);
    expect(result.out).toMatch(/hash-mismatch/);
    expect(result.out).toContain(String(victim));
    const problems = await sealer.verifyAll();
    expect(problems).toEqual(expect.arrayContaining([{ chain: `org:${org.orgId}`, position: String(victim), problem: 'hash-mismatch' }]));
    const alerts = await admin.query("select count(*)::int as n from events where type = 'AuditChainBroken' and org_id = $1", [org.orgId]);
    expect(alerts.rows[0].n).toBeGreaterThan(0);
  });
});
