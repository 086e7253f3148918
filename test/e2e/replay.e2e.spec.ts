import type { Pool } from 'pg';
import { type TestApi, startTestApi } from '../support/api';
import { closePools, isolatedDatabase, poolFor, type TestDatabase } from '../support/database';
import { call } from '../support/http';
import { addMember, newAgent, newOrg, stepUp } from '../support/orgs';
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
  // `replay all` rebuilds and compares every read model of the database, and --swap rewrites them: in the worker's
  // shared database that would be every other suite's rows too (one of them tampered or half projected fails it).
  db = await isolatedDatabase();
  api = await startTestApi(db);
  admin = poolFor(db.adminUrl);
});
afterAll(async () => {
  await api?.close();
  await closePools();
  if (api) await dropPrefix(api.redisPrefix);
});

describe('compliance replay', () => {
  it('rebuilds every read model from position 0 into a shadow schema and finds it identical to the live one; a corrupted live row is found and swapped back', async () => {
    // A journey: an organisation, its team, an agent, tasks moved around.
    const org = await newOrg(api);
    await addMember(api, org, 'member');
    const viewer = await addMember(api, org, 'viewer');
    const agent = await newAgent(api, org);
    await new TestProjector(db).catchUp();
    const task = (await call(api, 'POST', `/v1/orgs/${org.orgId}/tasks`, { token: org.admin.accessToken, body: { title: 'replay me' } })).body.id;
    await call(api, 'POST', `/v1/orgs/${org.orgId}/tasks/${task}/assign`, { token: org.admin.accessToken, body: { assignee: { type: 'agent', id: agent.agentId } } });
    await new TestProjector(db).catchUp();
    await call(api, 'POST', `/v1/orgs/${org.orgId}/tasks/${task}/move`, { token: agent.token, body: { to: 'review', position: 1 } });
    await stepUp(api, org.admin); // removing a member is a step-up command
    expect((await call(api, 'DELETE', `/v1/orgs/${org.orgId}/members/${viewer.userId}`, { token: org.admin.accessToken })).status).toBe(204);
    await new TestProjector(db).catchUp();

    const clean = bastion('replay', 'all');
    expect(clean.stdout).toContain('replay: identical to the live read models');
    expect(clean.status).toBe(0);

    await admin.query("update tasks set title = 'tampered' where task_id = $1", [task]);
    const dirty = bastion('replay', 'all');
    expect(dirty.status).toBe(1);
    expect(dirty.stdout).toMatch(/tasks: live \d+, replayed \d+, only live 1, only replayed 1/);

    const swapped = bastion('replay', 'all', '--swap');
    expect(swapped.stdout).toContain('the replayed rows were swapped in');
    expect((await admin.query('select title from tasks where task_id = $1', [task])).rows[0].title).toBe('replay me');
    expect(bastion('replay', 'all').status).toBe(0);
    // The live tables kept their row-level security.
    const rls = await admin.query("select relrowsecurity, relforcerowsecurity from pg_class where relname = 'tasks' and relnamespace = 'public'::regnamespace");
    expect(rls.rows[0]).toEqual({ relrowsecurity: true, relforcerowsecurity: true });
  });
});
