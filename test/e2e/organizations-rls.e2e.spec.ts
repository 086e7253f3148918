import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { EVENT_AUTHORITY, PERMISSIONS, ROLE_PERMISSIONS } from '../../libs/domain/src';
import { withPrincipal } from '../../libs/infra/src/database/with-principal';
import { PostgresEventStore } from '../../libs/infra/src/event-store/postgres/postgres-event-store.adapter';
import { newEvent } from '../support/events';
import { type TestApi, startTestApi } from '../support/api';
import { closePools, poolFor, type TestDatabase, workerDatabase } from '../support/database';
import { call, decodeJwt, tokenFromMail } from '../support/http';
import { newUser, type SignedIn, sessionCredentials } from '../support/identity';
import { addMember, newAgent, newOrg, type OrgFixture, stepUp } from '../support/orgs';
import { TestProjector } from '../support/projector';
import { dropPrefix } from '../support/redis';

let db: TestDatabase;
let api: TestApi;
let admin: Pool;
let app: Pool;
let projector: TestProjector;
let events: PostgresEventStore;

beforeAll(async () => {
  db = await workerDatabase();
  api = await startTestApi(db);
  admin = poolFor(db.adminUrl);
  app = poolFor(db.urlFor('bastion_app'), 4);
  projector = new TestProjector(db);
  events = new PostgresEventStore(admin);
});
afterAll(async () => {
  await api?.close();
  await closePools();
  if (api) await dropPrefix(api.redisPrefix);
});

/** The session credentials the API would present for a signed-in user (for driving the DB helper directly). */
function credentialsOf(user: SignedIn) {
  return sessionCredentials(api, user.accessToken);
}

/** A fresh MFA verification on the user's session, as the MFA sign-in or step-up will record it. */
async function markMfaFresh(user: SignedIn) {
  await admin.query('update authz.sessions set mfa_at = now() where id = $1', [decodeJwt(user.accessToken).payload.sid]);
}

describe('the catalogue is one source', () => {
  it('GET /v1/roles serves the 4 roles and 30 permissions of libs/domain, publicly', async () => {
    const reply = await call(api, 'GET', '/v1/roles');
    expect(reply.status).toBe(200);
    expect(reply.body.permissions).toEqual([...PERMISSIONS]);
    expect((reply.body.roles as { name: string; permissions: string[] }[]).map((r) => [r.name, r.permissions])).toEqual(
      Object.entries(ROLE_PERMISSIONS).map(([name, p]) => [name, [...p]]),
    );
  });

  it('the database holds exactly the catalogue of libs/domain (permissions, role matrix, event authority)', async () => {
    const perms = (await admin.query('select name from authz.permissions order by name')).rows.map((r) => r.name);
    expect(perms).toEqual([...PERMISSIONS].sort());
    const matrix = (await admin.query('select role, permission from authz.role_permissions order by role, permission')).rows;
    const expected = Object.entries(ROLE_PERMISSIONS).flatMap(([role, ps]) => ps.map((permission) => ({ role, permission })));
    expect(matrix).toEqual(expected.sort((a, b) => (a.role + a.permission < b.role + b.permission ? -1 : 1)));
    const authority = (await admin.query('select type, human, agent from authz.event_authority order by type')).rows;
    expect(authority).toEqual(
      Object.entries(EVENT_AUTHORITY)
        .map(([type, a]) => ({ type, human: a.human, agent: a.agent }))
        .sort((a, b) => (a.type < b.type ? -1 : 1)),
    );
  });

  it('every event type ever stored in this run has an authority mapping', async () => {
    const stored = (await admin.query('select distinct type from events')).rows.map((r) => r.type as string);
    // This worker's database also holds what other suites appended by hand: the event-store contract's Sample*
    // events and the projections' unknown-type case. They are fixtures, not types the application stores.
    const fixtures = /^(Sample[A-Z]\w*|OrganizationRenamed)$/;
    expect(stored.filter((t) => !(t in EVENT_AUTHORITY) && !fixtures.test(t))).toEqual([]);
  });
});

describe('team management', () => {
  it('an admin invites by email; the invitee with that verified email accepts and joins with the role', async () => {
    const org = await newOrg(api);
    const invitee = await newUser(api);
    const invite = await call(api, 'POST', `/v1/orgs/${org.orgId}/invitations`, { token: org.admin.accessToken, body: { email: invitee.email, role: 'member' } });
    expect(invite.status).toBe(201);
    expect(invite.body).toMatchObject({ id: expect.any(String), token: expect.any(String), link: expect.stringContaining(String(invite.body.token)) });
    expect(tokenFromMailSafe(invitee.email)).toBe(invite.body.token);
    const stranger = await newUser(api);
    expect((await call(api, 'POST', `/v1/invitations/${invite.body.token}/accept`, { token: stranger.accessToken })).status).toBe(403);
    const accepted = await call(api, 'POST', `/v1/invitations/${invite.body.token}/accept`, { token: invitee.accessToken });
    expect(accepted.status).toBe(200);
    expect(accepted.body.orgId).toBe(org.orgId);
    expect((await call(api, 'POST', `/v1/invitations/${invite.body.token}/accept`, { token: invitee.accessToken })).status).toBe(400);
    await projector.catchUp();
    const members = await call(api, 'GET', `/v1/orgs/${org.orgId}/members`, { token: invitee.accessToken });
    expect((members.body.members as { userId: string; role: string }[]).map((m) => [m.userId, m.role])).toEqual([
      [org.admin.userId, 'admin'],
      [invitee.userId, 'member'],
    ]);
    const stream = (await events.readStream(`org-${org.orgId}`)).map((e) => e.type);
    expect(stream).toEqual(['OrganizationCreated', 'MemberAdded', 'OrgKeyCreated', 'MemberInvited', 'InvitationAccepted', 'MemberAdded']);
    expect(JSON.stringify(await events.readStream(`org-${org.orgId}`))).not.toContain(String(invite.body.token));
  });

  it('a member cannot invite; nobody can invite a provider_admin', async () => {
    const org = await newOrg(api);
    const member = await addMember(api, org, 'member');
    expect((await call(api, 'POST', `/v1/orgs/${org.orgId}/invitations`, { token: member.accessToken, body: { email: 'x@example.com', role: 'viewer' } })).status).toBe(403);
    const escalation = await call(api, 'POST', `/v1/orgs/${org.orgId}/invitations`, { token: org.admin.accessToken, body: { email: 'x@example.com', role: 'provider_admin' } });
    expect(escalation.status).toBe(400);
    expect(escalation.body.errors).toEqual([expect.objectContaining({ field: 'role' })]);
  });

  it('a role change needs team:manage and step-up MFA, takes effect at once, and never demotes the last Admin', async () => {
    const org = await newOrg(api);
    const member = await addMember(api, org, 'member');
    const noStepUp = await call(api, 'PATCH', `/v1/orgs/${org.orgId}/members/${member.userId}`, { token: org.admin.accessToken, body: { role: 'viewer' } });
    expect(noStepUp.status).toBe(403);
    expect(noStepUp.body.type).toBe('urn:bastion:problem:step-up-required');
    await markMfaFresh(org.admin);
    expect((await call(api, 'PATCH', `/v1/orgs/${org.orgId}/members/${member.userId}`, { token: org.admin.accessToken, body: { role: 'viewer' } })).status).toBe(204);
    // Effective at once: the next request of the demoted member is judged by the new role.
    expect((await call(api, 'POST', `/v1/orgs/${org.orgId}/tasks`, { token: member.accessToken, body: { title: 'x' } })).status).toBe(403);
    const demoteSelf = await call(api, 'PATCH', `/v1/orgs/${org.orgId}/members/${org.admin.userId}`, { token: org.admin.accessToken, body: { role: 'member' } });
    expect(demoteSelf.status).toBe(409);
    expect(demoteSelf.body.type).toBe('urn:bastion:problem:last-admin');
    await markMfaFresh(member);
    expect((await call(api, 'PATCH', `/v1/orgs/${org.orgId}/members/${org.admin.userId}`, { token: member.accessToken, body: { role: 'viewer' } })).status).toBe(403);
  });

  it('removal revokes the member’s sessions; the last Admin cannot leave', async () => {
    const org = await newOrg(api);
    const member = await addMember(api, org, 'member');
    expect((await call(api, 'DELETE', `/v1/orgs/${org.orgId}/members/${org.admin.userId}`, { token: org.admin.accessToken })).status).toBe(409);
    await markMfaFresh(org.admin); // removing someone else is a step-up command (the next tests try without)
    expect((await call(api, 'DELETE', `/v1/orgs/${org.orgId}/members/${member.userId}`, { token: org.admin.accessToken })).status).toBe(204);
    expect((await call(api, 'GET', `/v1/auth/sessions`, { token: member.accessToken })).status).toBe(401);
    expect((await events.readStream(`org-${org.orgId}`)).map((e) => e.type).at(-1)).toBe('MemberRemoved');
  });

  /** The org's own stream: a refused command must leave it as it was. */
  async function orgStreamLength(org: OrgFixture): Promise<number> {
    return (await admin.query('select count(*)::int as n from events where stream_id = $1', [`org-${org.orgId}`])).rows[0].n;
  }
  async function mfaVerifiedMinutesAgo(user: SignedIn, minutes: number) {
    await admin.query("update authz.sessions set mfa_at = now() - make_interval(mins => $2) where id = $1", [decodeJwt(user.accessToken).payload.sid, minutes]);
  }

  it('an admin session without a fresh MFA cannot invite an admin (403 step-up-required, nothing appended), and can after stepping up', async () => {
    const org = await newOrg(api);
    const invitee = await newUser(api);
    const inviteAdmin = () => call(api, 'POST', `/v1/orgs/${org.orgId}/invitations`, { token: org.admin.accessToken, body: { email: invitee.email, role: 'admin' } });
    const before = await orgStreamLength(org);
    // A session that never verified MFA (a password sign-in), then one that verified it 16 minutes ago.
    const never = await inviteAdmin();
    expect([never.status, never.body.type]).toEqual([403, 'urn:bastion:problem:step-up-required']);
    await stepUp(api, org.admin);
    await mfaVerifiedMinutesAgo(org.admin, 16);
    const stale = await inviteAdmin();
    expect([stale.status, stale.body.type]).toEqual([403, 'urn:bastion:problem:step-up-required']);
    expect(await orgStreamLength(org)).toBe(before);
    expect((await admin.query('select 1 from authz.invitations where org_id = $1', [org.orgId])).rowCount).toBe(0);
    expect(tokenFromMailSafe(invitee.email)).toBe('');
    // A viewer or member invitation grants less than the session can already do: no step-up.
    const inviteMember = await call(api, 'POST', `/v1/orgs/${org.orgId}/invitations`, { token: org.admin.accessToken, body: { email: `m-${randomUUID()}@example.com`, role: 'member' } });
    expect(inviteMember.status).toBe(201);
    await stepUp(api, org.admin);
    const invited = await inviteAdmin();
    expect(invited.status).toBe(201);
    expect((await call(api, 'POST', `/v1/invitations/${invited.body.token}/accept`, { token: invitee.accessToken })).status).toBe(200);
    expect((await admin.query('select role from authz.memberships where org_id = $1 and user_id = $2', [org.orgId, invitee.userId])).rows).toEqual([{ role: 'admin' }]);
    const appended = (await events.readStream(`org-${org.orgId}`)).slice(before).map((e) => [e.type, e.data.role]);
    expect(appended).toEqual([
      ['MemberInvited', 'member'],
      ['MemberInvited', 'admin'],
      ['InvitationAccepted', undefined],
      ['MemberAdded', 'admin'],
    ]);
  });

  it('an admin session without a fresh MFA cannot remove another member; a member can still leave without step-up', async () => {
    const org = await newOrg(api);
    const member = await addMember(api, org, 'member');
    const leaver = await addMember(api, org, 'viewer');
    const coAdmin = await addMember(api, org, 'admin'); // steps the org's admin up (enrols TOTP) to invite an Admin
    await mfaVerifiedMinutesAgo(org.admin, 16);
    const before = await orgStreamLength(org);
    // The stale admin against a member and an Admin; the co-admin, who never verified MFA, against the first admin.
    for (const [by, target] of [[org.admin, member], [org.admin, coAdmin], [coAdmin, org.admin]] as const) {
      const refused = await call(api, 'DELETE', `/v1/orgs/${org.orgId}/members/${target.userId}`, { token: by.accessToken });
      expect([target.userId, refused.status, refused.body.type]).toEqual([target.userId, 403, 'urn:bastion:problem:step-up-required']);
    }
    expect(await orgStreamLength(org)).toBe(before);
    expect((await admin.query('select count(*)::int as n from authz.memberships where org_id = $1', [org.orgId])).rows[0].n).toBe(4);
    expect((await call(api, 'GET', '/v1/auth/sessions', { token: member.accessToken })).status).toBe(200);
    // Leaving is one's own business: no MFA at all.
    expect((await call(api, 'DELETE', `/v1/orgs/${org.orgId}/members/${leaver.userId}`, { token: leaver.accessToken })).status).toBe(204);
    expect((await events.readStream(`org-${org.orgId}`)).map((e) => e.type).at(-1)).toBe('MemberLeft');
    expect((await call(api, 'GET', '/v1/auth/sessions', { token: leaver.accessToken })).status).toBe(200);
    await stepUp(api, org.admin);
    expect((await call(api, 'DELETE', `/v1/orgs/${org.orgId}/members/${member.userId}`, { token: org.admin.accessToken })).status).toBe(204);
    expect((await events.readStream(`org-${org.orgId}`)).map((e) => e.type).at(-1)).toBe('MemberRemoved');
    expect((await call(api, 'GET', '/v1/auth/sessions', { token: member.accessToken })).status).toBe(401);
  });
});

describe('tasks and the canvas', () => {
  it('members create, assign and move tasks; the canvas shows them; an assigned agent moves its task; every move is an event', async () => {
    const org = await newOrg(api);
    const agent = await newAgent(api, org);
    const created = await call(api, 'POST', `/v1/orgs/${org.orgId}/tasks`, { token: org.admin.accessToken, body: { title: 'Write the parser', description: 'details' } });
    expect(created.status).toBe(201);
    const taskId = created.body.id as string;
    await projector.catchUp();
    // Not assigned to it, the task does not even exist for the agent.
    expect((await call(api, 'POST', `/v1/orgs/${org.orgId}/tasks/${taskId}/move`, { token: agent.token, body: { to: 'in_progress', position: 0 } })).status).toBe(404);
    expect((await call(api, 'POST', `/v1/orgs/${org.orgId}/tasks/${taskId}/assign`, { token: org.admin.accessToken, body: { assignee: { type: 'agent', id: agent.agentId } } })).status).toBe(204);
    await projector.catchUp();
    expect((await call(api, 'POST', `/v1/orgs/${org.orgId}/tasks/${taskId}/move`, { token: agent.token, body: { to: 'in_progress', position: 2 } })).status).toBe(204);
    expect((await call(api, 'POST', `/v1/orgs/${org.orgId}/tasks/${taskId}/assign`, { token: agent.token, body: { assignee: null } })).status).toBe(403);
    await projector.catchUp();
    const canvas = await call(api, 'GET', `/v1/orgs/${org.orgId}/canvas`, { token: org.admin.accessToken });
    expect(canvas.status).toBe(200);
    const columns = canvas.body.columns as Record<string, { id: string; position: number }[]>;
    expect(columns.in_progress!.map((t) => [t.id, t.position])).toEqual([[taskId, 2]]);
    expect(canvas.body.agents).toEqual([expect.objectContaining({ id: agent.agentId, assignedTasks: [taskId] })]);
    const moves = (await events.readStream(`task-${taskId}`)).filter((e) => e.type === 'TaskMoved');
    expect(moves.map((e) => e.metadata.actor)).toEqual([{ type: 'agent', id: agent.agentId }]);
    // The agent sees its own task, and only that.
    const agentList = await call(api, 'GET', `/v1/orgs/${org.orgId}/tasks`, { token: agent.token });
    expect((agentList.body.tasks as { id: string }[]).map((t) => t.id)).toEqual([taskId]);
  });

  it('a viewer reads the canvas but cannot create or move, and a refused command appends nothing', async () => {
    const org = await newOrg(api);
    const viewer = await addMember(api, org, 'viewer');
    const before = (await admin.query('select count(*)::int as n from events where org_id = $1', [org.orgId])).rows[0].n;
    const refused = await call(api, 'POST', `/v1/orgs/${org.orgId}/tasks`, { token: viewer.accessToken, body: { title: 'nope' } });
    expect(refused.status).toBe(403);
    expect((await admin.query('select count(*)::int as n from events where org_id = $1', [org.orgId])).rows[0].n).toBe(before);
    expect((await call(api, 'GET', `/v1/orgs/${org.orgId}/canvas`, { token: viewer.accessToken })).status).toBe(200);
  });

  it('a non-member reaches nothing of the organisation', async () => {
    const org = await newOrg(api);
    const outsider = await newUser(api);
    for (const [method, path] of [
      ['GET', `/v1/orgs/${org.orgId}`],
      ['GET', `/v1/orgs/${org.orgId}/canvas`],
      ['GET', `/v1/orgs/${org.orgId}/members`],
      ['POST', `/v1/orgs/${org.orgId}/tasks`],
    ] as const) {
      expect((await call(api, method, path, { token: outsider.accessToken, body: method === 'POST' ? { title: 'x' } : undefined })).status).toBe(403);
    }
  });

  it('an agent token reaches no other organisation than its own', async () => {
    const org = await newOrg(api);
    const other = await newOrg(api);
    const agent = await newAgent(api, org);
    expect((await call(api, 'GET', `/v1/orgs/${other.orgId}/tasks`, { token: agent.token })).status).toBe(403);
  });
});

describe('a bug cannot leak', () => {
  it('an unscoped SELECT through the API’s transaction helper returns only the request’s organisation, for a user of two orgs', async () => {
    const a = await newOrg(api, 'A');
    const b = await newOrg(api, 'B');
    await addMember(api, b, 'admin', a.admin);
    for (const org of [a, b]) {
      await call(api, 'POST', `/v1/orgs/${org.orgId}/tasks`, { token: a.admin.accessToken, body: { title: `task of ${org.orgId}` } });
      await call(api, 'POST', `/v1/orgs/${org.orgId}/agents`, { token: a.admin.accessToken, body: { name: 'bot' } });
    }
    await projector.catchUp();
    const creds = credentialsOf(a.admin);
    for (const table of ['tasks', 'org_members', 'agents', 'organizations', 'events']) {
      const orgs = await withPrincipal(app, creds, a.orgId, async (tx) => (await tx.query(`select distinct org_id from ${table}`)).rows.map((r) => r.org_id));
      expect(orgs.filter((o: string | null) => o !== null)).toEqual(table === 'organizations' ? expect.arrayContaining([a.orgId]) : [a.orgId]);
    }
  });

  it('pool leak: after a request commits, the same pooled connection carries no principal and sees no row', async () => {
    const org = await newOrg(api);
    await call(api, 'POST', `/v1/orgs/${org.orgId}/tasks`, { token: org.admin.accessToken, body: { title: 't' } });
    await projector.catchUp();
    const single = poolFor(db.urlFor('bastion_app'), 1);
    const seen = await withPrincipal(single, credentialsOf(org.admin), org.orgId, async (tx) => (await tx.query('select count(*)::int as n from tasks')).rows[0].n);
    expect(seen).toBeGreaterThan(0);
    const after = await single.query(
      "select authz.current_principal() as p, current_setting('bastion.org_id', true) as org, (select count(*)::int from tasks) as n, (select count(*)::int from events) as e",
    );
    expect(after.rows[0]).toEqual({ p: null, org: '', n: 0, e: 0 });
  });
});

describe('writes are enforced by the database too', () => {
  async function asApp<T>(user: SignedIn, orgId: string, work: (tx: import('pg').PoolClient) => Promise<T>) {
    return withPrincipal(app, credentialsOf(user), orgId, work);
  }

  it('the app role may not append a platform event (MemberAdded) even in its own organisation', async () => {
    const org = await newOrg(api);
    const forged = newEvent('MemberAdded', { orgId: org.orgId, userId: randomUUID(), role: 'admin' }, { orgId: org.orgId, actor: { type: 'human', id: org.admin.userId } });
    await expect(asApp(org.admin, org.orgId, (tx) => new PostgresEventStore(tx).append(`org-${org.orgId}`, [forged], 'any'))).rejects.toMatchObject({ code: '42501' });
  });

  it('the app role may not append into another organisation, nor as another actor', async () => {
    const org = await newOrg(api);
    const other = await newOrg(api);
    const intoOther = newEvent('TaskCreated', { taskId: randomUUID() }, { orgId: other.orgId, actor: { type: 'human', id: org.admin.userId } });
    await expect(asApp(org.admin, org.orgId, (tx) => new PostgresEventStore(tx).append(`task-${randomUUID()}`, [intoOther], 'no_stream'))).rejects.toMatchObject({ code: '42501' });
    const asSomeoneElse = newEvent('TaskCreated', { taskId: randomUUID() }, { orgId: org.orgId, actor: { type: 'human', id: other.admin.userId } });
    await expect(asApp(org.admin, org.orgId, (tx) => new PostgresEventStore(tx).append(`task-${randomUUID()}`, [asSomeoneElse], 'no_stream'))).rejects.toMatchObject({ code: '42501' });
  });

  it('a viewer’s TaskCreated is refused by the insert policy even when the app skips its own check', async () => {
    const org = await newOrg(api);
    const viewer = await addMember(api, org, 'viewer');
    const event = newEvent('TaskCreated', { taskId: randomUUID() }, { orgId: org.orgId, actor: { type: 'human', id: viewer.userId } });
    await expect(asApp(viewer, org.orgId, (tx) => new PostgresEventStore(tx).append(`task-${randomUUID()}`, [event], 'no_stream'))).rejects.toMatchObject({ code: '42501' });
  });

  it('SQL the app runs cannot skip the team step-up, nor record an Admin invitation or a removal as something else', async () => {
    const org = await newOrg(api);
    const member = await addMember(api, org, 'member');
    const actor = { type: 'human' as const, id: org.admin.userId };
    const invite = (role: string, recordedRole: string) => {
      const invitationId = randomUUID();
      const event = newEvent('MemberInvited', { orgId: org.orgId, invitationId, email: 'sealed', role: recordedRole, expiresAt: new Date().toISOString() }, { orgId: org.orgId, actor });
      return asApp(org.admin, org.orgId, (tx) =>
        tx.query('select authz.invite_member($1, $2, $3, $4, $5, $6, $7, $8)', [org.orgId, invitationId, 'x@example.com', 'x@example.com', role, randomUUID(), new Date(Date.now() + 60_000), event]),
      );
    };
    const remove = (userId: string, recordedUserId: string) =>
      asApp(org.admin, org.orgId, (tx) =>
        tx.query('select authz.remove_member($1, $2, $3)', [org.orgId, userId, newEvent('MemberRemoved', { orgId: org.orgId, userId: recordedUserId }, { orgId: org.orgId, actor })]),
      );
    await expect(invite('admin', 'admin')).rejects.toMatchObject({ code: 'BA001' });
    await expect(remove(member.userId, member.userId)).rejects.toMatchObject({ code: 'BA001' });
    await markMfaFresh(org.admin);
    await expect(invite('admin', 'member')).rejects.toMatchObject({ code: '42501' });
    await expect(remove(member.userId, org.admin.userId)).rejects.toMatchObject({ code: '42501' });
    expect((await admin.query("select 1 from authz.invitations where org_id = $1 and role = 'admin'", [org.orgId])).rowCount).toBe(0);
    expect((await admin.query('select 1 from authz.memberships where org_id = $1 and user_id = $2', [org.orgId, member.userId])).rowCount).toBe(1);
  });

  it('a set_config of another principal or org inside a proven transaction is not honoured', async () => {
    const a = await newOrg(api);
    const b = await newOrg(api);
    await call(api, 'POST', `/v1/orgs/${b.orgId}/tasks`, { token: b.admin.accessToken, body: { title: 'secret of B' } });
    await projector.catchUp();
    const rows = await asApp(a.admin, a.orgId, async (tx) => {
      await tx.query("select set_config('bastion.org_id', $1, true), set_config('bastion.principal_id', $2, true)", [b.orgId, b.admin.userId]);
      return (await tx.query('select org_id from tasks where org_id = $1', [b.orgId])).rows;
    });
    expect(rows).toEqual([]);
  });
});

describe('catalog guards', () => {
  it('every table with org_id has RLS enabled and forced (authz excepted, and unreachable to bastion_app)', async () => {
    const { rows } = await admin.query(`
      select n.nspname, c.relname, c.relrowsecurity, c.relforcerowsecurity
        from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
       where a.attname = 'org_id' and c.relkind = 'r' and not a.attisdropped and n.nspname not in ('pg_catalog', 'information_schema')`);
    const unprotected = rows.filter((r) => r.nspname !== 'authz' && !(r.relrowsecurity && r.relforcerowsecurity));
    expect(unprotected).toEqual([]);
    const reachable = await admin.query(
      "select table_name, privilege_type from information_schema.role_table_grants where table_schema = 'authz' and grantee = 'bastion_app'",
    );
    expect(reachable.rows).toEqual([]);
  });

  it('bastion_app is not a superuser, cannot bypass RLS and owns nothing; the projector is never the API', async () => {
    const role = (await admin.query("select rolsuper, rolbypassrls, rolcreaterole, rolcreatedb from pg_roles where rolname = 'bastion_app'")).rows[0];
    expect(role).toEqual({ rolsuper: false, rolbypassrls: false, rolcreaterole: false, rolcreatedb: false });
    const owned = await admin.query(
      "select c.relname from pg_class c join pg_roles r on r.oid = c.relowner where r.rolname in ('bastion_app', 'bastion_worker', 'bastion_projector')",
    );
    expect(owned.rows).toEqual([]);
    const fns = await admin.query("select p.proname from pg_proc p join pg_roles r on r.oid = p.proowner where r.rolname = 'bastion_app'");
    expect(fns.rows).toEqual([]);
  });

  it('every security-definer function pins search_path', async () => {
    const { rows } = await admin.query(`
      select n.nspname || '.' || p.proname as fn from pg_proc p join pg_namespace n on n.oid = p.pronamespace
       where p.prosecdef and n.nspname not in ('pg_catalog', 'information_schema', 'extensions')
         and not exists (select 1 from unnest(coalesce(p.proconfig, '{}')) c where c like 'search_path=%')`);
    expect(rows).toEqual([]);
  });

  it('no view lacks security_invoker', async () => {
    const { rows } = await admin.query(`
      select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where c.relkind = 'v' and n.nspname not in ('pg_catalog', 'information_schema')
         and not coalesce(c.reloptions @> array['security_invoker=true'], false)`);
    expect(rows).toEqual([]);
  });

  it('no definer function is executable by PUBLIC', async () => {
    const { rows } = await admin.query(`
      select n.nspname || '.' || p.proname as fn from pg_proc p join pg_namespace n on n.oid = p.pronamespace
       where p.prosecdef and n.nspname = 'authz' and has_function_privilege('public', p.oid, 'execute')`);
    expect(rows).toEqual([]);
  });
});

function tokenFromMailSafe(email: string): string {
  try {
    const text = tokenFromMail(api.mailDir, email, 'Invitation token' as never);
    return text;
  } catch {
    return '';
  }
}
