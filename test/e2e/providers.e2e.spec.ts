import type { Pool } from 'pg';
import { type TestApi, startTestApi } from '../support/api';
import { closePools, poolFor, type TestDatabase, workerDatabase } from '../support/database';
import { call } from '../support/http';
import { newUser } from '../support/identity';
import { newOrg } from '../support/orgs';
import { runCli } from '../support/processes';
import { TestProjector } from '../support/projector';
import { dropPrefix } from '../support/redis';

let db: TestDatabase;
let api: TestApi;
let admin: Pool;

function bastion(...args: string[]) {
  return runCli({ DATABASE_URL: db.adminUrl }, ...args);
}

beforeAll(async () => {
  db = await workerDatabase();
  api = await startTestApi(db);
  admin = poolFor(db.adminUrl);
});
afterAll(async () => {
  await api?.close();
  await closePools();
  if (api) await dropPrefix(api.redisPrefix);
});

describe('Provider Admins, granted only by the operator', () => {
  it('administer every organisation of their provider (never billing), through the same policies', async () => {
    const org = await newOrg(api);
    const msp = await newUser(api);
    const created = bastion('providers', 'create', 'Acme MSP');
    expect(created.status).toBe(0);
    const providerId = /: ([0-9a-f-]{36})/.exec(created.stdout)![1]!;
    expect(bastion('providers', 'grant-admin', providerId, msp.email).status).toBe(0);
    expect((await call(api, 'GET', `/v1/orgs/${org.orgId}/canvas`, { token: msp.accessToken })).status).toBe(403);
    expect(bastion('providers', 'attach', providerId, org.orgId).status).toBe(0);
    expect((await call(api, 'GET', `/v1/orgs/${org.orgId}/canvas`, { token: msp.accessToken })).status).toBe(200);
    expect((await call(api, 'POST', `/v1/orgs/${org.orgId}/tasks`, { token: msp.accessToken, body: { title: 'by the MSP' } })).status).toBe(201);
    await new TestProjector(db).catchUp();
    const listed = await call(api, 'GET', '/v1/orgs', { token: msp.accessToken });
    expect((listed.body.organizations as { id: string }[]).map((o) => o.id)).toContain(org.orgId);
    const { rows } = await admin.query(
      "select authz_has from (select 1) x, lateral (select exists (select 1 from authz.role_permissions where role = 'provider_admin' and permission = 'billing:manage') as authz_has) y",
    );
    expect(rows[0].authz_has).toBe(false);
    const types = (await admin.query('select type from events where stream_id = $1 order by revision', [`provider-${providerId}`])).rows.map((r) => r.type);
    expect(types).toEqual(['ProviderCreated', 'ProviderAdminGranted']);
  });

  it('an org Admin cannot make anyone a Provider Admin: no route takes that role', async () => {
    const org = await newOrg(api);
    const reply = await call(api, 'POST', `/v1/orgs/${org.orgId}/invitations`, { token: org.admin.accessToken, body: { email: 'p@example.com', role: 'provider_admin' } });
    expect(reply.status).toBe(400);
    const docs = await call(api, 'GET', '/docs-json');
    expect(JSON.stringify(docs.body.paths)).not.toMatch(/provider/);
  });
});
