/**
 * Sensitive fields (DESIGN §9) through the real API, a real database, Redis, the projection, the local KMS in a
 * directory of this suite's own (so disabling its platform key touches no other suite) and the gRPC Google Cloud KMS
 * test server. Plaintext DEKs are cached for at most 1 s here (`DATA_KEY_TTL_SECONDS`).
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { decryptField, type DataKey } from '@bastion/infra/crypto/envelope';
import { LocalKms } from '@bastion/infra/crypto/kms';
import { FakeGcpKmsServer, startFakeGcpKmsServer } from '@bastion/infra/crypto/kms/testing/fake-gcp-kms-server';
import { KmsRouter, OrgKeyService, orgKeyWrappingAad, type Transact } from '@bastion/infra/crypto/org-keys';
import { withPrincipal } from '@bastion/infra/database/with-principal';
import { repositoryPath } from '@bastion/infra/git/repository-store';
import type { Pool } from 'pg';
import { type TestApi, startTestApi } from '../../../../test/support/api';
import { closePools, isolatedDatabase, poolFor, type TestDatabase } from '../../../../test/support/database';
import { call, decodeJwt } from '../../../../test/support/http';
import { type SignedIn, sessionCredentials } from '../../../../test/support/identity';
import { addMember, newAgent, newOrg, type OrgFixture } from '../../../../test/support/orgs';
import { TestProjector } from '../../../../test/support/projector';
import { dropPrefix } from '../../../../test/support/redis';
import { ORG_KEY_SERVICE } from './security.tokens';

const run = promisify(execFile);
const RING = 'projects/bastion-test/locations/europe-west1/keyRings/tenants';
const ENV = ['GCP_KMS_ENDPOINT', 'KMS_LOCAL_DIR', 'DATA_KEY_TTL_SECONDS'] as const;
const TOKEN = /^v1\.1\.[A-Za-z0-9_-]+$/;

let db: TestDatabase;
let api: TestApi;
let admin: Pool;
let app: Pool;
let projector: TestProjector;
let server: FakeGcpKmsServer;
let local: LocalKms;
let keys: OrgKeyService;
const reposRoot = mkdtempSync(join(tmpdir(), 'bastion-sealed-repos-'));
const savedEnv: Partial<Record<(typeof ENV)[number], string | undefined>> = {};

beforeAll(async () => {
  server = await startFakeGcpKmsServer();
  for (const name of ENV) savedEnv[name] = process.env[name];
  const kmsDir = mkdtempSync(join(tmpdir(), 'bastion-sealed-kms-'));
  process.env.GCP_KMS_ENDPOINT = `127.0.0.1:${server.port}`;
  process.env.KMS_LOCAL_DIR = kmsDir;
  process.env.DATA_KEY_TTL_SECONDS = '1';
  local = new LocalKms({ directory: kmsDir });
  // Its own database: these tests tamper with read-model rows, which the replay test would rightly report.
  db = await isolatedDatabase();
  api = await startTestApi(db, { REPOS_ROOT: reposRoot });
  admin = poolFor(db.adminUrl);
  app = poolFor(db.urlFor('bastion_app'), 4);
  projector = new TestProjector(db);
  keys = api.app.get<OrgKeyService>(ORG_KEY_SERVICE);
});

afterAll(async () => {
  projector?.close();
  await api?.close();
  await server?.stop();
  await closePools();
  if (api) await dropPrefix(api.redisPrefix);
  for (const name of ENV) {
    if (savedEnv[name] === undefined) delete process.env[name];
    else process.env[name] = savedEnv[name];
  }
});

const tasks = (orgId: string, suffix = '') => `/v1/orgs/${orgId}/tasks${suffix}`;
const kms = (orgId: string, suffix = '') => `/v1/orgs/${orgId}/security/kms${suffix}`;

function as(user: SignedIn, orgId: string): Transact {
  return (work) => withPrincipal(app, sessionCredentials(api, user.accessToken), orgId, work);
}

async function markMfaFresh(user: SignedIn): Promise<void> {
  await admin.query('update authz.sessions set mfa_at = now() where id = $1', [decodeJwt(user.accessToken).payload.sid]);
}

async function newTask(org: OrgFixture, description: string, title = 'a task'): Promise<string> {
  const reply = await call(api, 'POST', tasks(org.orgId), { token: org.admin.accessToken, body: { title, description } });
  expect(reply.status).toBe(201);
  return reply.body.id as string;
}

async function eventData(streamId: string): Promise<{ id: string; type: string; data: Record<string, unknown> }[]> {
  const { rows } = await admin.query('select id, type, data from events where stream_id = $1 order by revision', [streamId]);
  return rows;
}

async function storedDescription(taskId: string): Promise<string> {
  return (await admin.query<{ description: string }>('select description from tasks where task_id = $1', [taskId])).rows[0]!.description;
}

/** A repository with a branch `feature` (made on the bare repository: the push path is code-governance's to test). */
async function repoWithBranch(org: OrgFixture): Promise<string> {
  const created = await call(api, 'POST', `/v1/orgs/${org.orgId}/repos`, { token: org.admin.accessToken, body: { name: 'service' } });
  expect(created.status).toBe(201);
  const repoId = created.body.id as string;
  await run('git', ['--git-dir', repositoryPath(reposRoot, org.orgId, repoId), 'update-ref', 'refs/heads/feature', 'refs/heads/main']);
  return repoId;
}

async function openMergeRequest(org: OrgFixture, repoId: string, description: string): Promise<string> {
  const reply = await call(api, 'POST', `/v1/orgs/${org.orgId}/repos/${repoId}/merge-requests`, {
    token: org.admin.accessToken,
    body: { sourceBranch: 'feature', title: 'Add feature', description },
  });
  expect(reply.status).toBe(201);
  return reply.body.id as string;
}

/** Reads until `check` holds or `ms` pass; returns the last reply. */
async function within<T>(ms: number, read: () => Promise<T>, check: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (check(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('a sensitive field is sealed once, at the command', () => {
  it('a task description is stored only as ciphertext, the same token in the event and the read model, and reads back', async () => {
    const org = await newOrg(api, 'Round trip');
    const description = `the plan ${randomUUID()}`;
    const taskId = await newTask(org, description);
    await projector.catchUp();

    const [created] = await eventData(`task-${taskId}`);
    expect(created!.data.description).toMatch(TOKEN);
    expect(JSON.stringify(created)).not.toContain(description);
    // The projector copied the token unchanged: it never decrypts.
    expect(await storedDescription(taskId)).toBe(created!.data.description);

    const one = await call(api, 'GET', tasks(org.orgId, `/${taskId}`), { token: org.admin.accessToken });
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ id: taskId, description });
    expect(one.body).not.toHaveProperty('descriptionUnavailable');
    // Any member, and an agent through its capability, read it too: the DEK is the org's.
    const viewer = await addMember(api, org, 'viewer');
    expect((await call(api, 'GET', tasks(org.orgId, `/${taskId}`), { token: viewer.accessToken })).body.description).toBe(description);

    const updated = `the revised plan ${randomUUID()}`;
    expect((await call(api, 'PATCH', tasks(org.orgId, `/${taskId}`), { token: org.admin.accessToken, body: { description: updated } })).status).toBe(204);
    await projector.catchUp();
    const [, update] = await eventData(`task-${taskId}`);
    expect(update!.data.description).toMatch(TOKEN);
    expect(update!.data.description).not.toBe(created!.data.description);
    expect(await storedDescription(taskId)).toBe(update!.data.description);
    const list = await call(api, 'GET', tasks(org.orgId), { token: org.admin.accessToken });
    expect(list.body.tasks).toEqual([expect.objectContaining({ id: taskId, description: updated })]);
    const canvas = await call(api, 'GET', `/v1/orgs/${org.orgId}/canvas`, { token: org.admin.accessToken });
    expect((canvas.body.columns as Record<string, unknown[]>).backlog).toEqual([expect.objectContaining({ id: taskId, description: updated })]);
  });

  it('an empty description stays empty and needs no key; the length limit is the plaintext’s', async () => {
    const org = await newOrg(api, 'Empty');
    const taskId = await newTask(org, '');
    await projector.catchUp();
    expect(await storedDescription(taskId)).toBe('');
    expect((await call(api, 'GET', tasks(org.orgId, `/${taskId}`), { token: org.admin.accessToken })).body.description).toBe('');
    // 20,000 characters seal to a longer token; the decider judged the plaintext, so it is accepted.
    const long = await call(api, 'POST', tasks(org.orgId), { token: org.admin.accessToken, body: { title: 'long', description: 'x'.repeat(20_000) } });
    expect(long.status).toBe(201);
    const tooLong = await call(api, 'POST', tasks(org.orgId), { token: org.admin.accessToken, body: { title: 'long', description: 'x'.repeat(20_001) } });
    expect(tooLong.status).toBe(400);
  });

  it('a merge-request description and a comment body are stored only as ciphertext; GET opens the description', async () => {
    const org = await newOrg(api, 'Code');
    const repoId = await repoWithBranch(org);
    const description = `why this change ${randomUUID()}`;
    const mrId = await openMergeRequest(org, repoId, description);
    const comment = `a review remark ${randomUUID()}`;
    const reviewer = await addMember(api, org, 'member');
    expect(
      (await call(api, 'POST', `/v1/orgs/${org.orgId}/repos/${repoId}/merge-requests/${mrId}/comments`, { token: reviewer.accessToken, body: { body: comment } }))
        .status,
    ).toBe(201);
    await projector.catchUp();

    const events = await eventData(`mr-${mrId}`);
    expect(JSON.stringify(events)).not.toContain(description);
    expect(JSON.stringify(events)).not.toContain(comment);
    const opened = events.find((e) => e.type === 'MergeRequestOpened')!;
    const commented = events.find((e) => e.type === 'MergeRequestCommented')!;
    expect(opened.data.description).toMatch(TOKEN);
    expect(commented.data.body).toMatch(TOKEN);
    const row = (await admin.query('select description from merge_requests where mr_id = $1', [mrId])).rows[0];
    expect(row.description).toBe(opened.data.description);

    const reply = await call(api, 'GET', `/v1/orgs/${org.orgId}/repos/${repoId}/merge-requests/${mrId}`, { token: org.admin.accessToken });
    expect(reply.status).toBe(200);
    expect(reply.body.description).toBe(description);
    // A comment is bound to its event's id (its only id) and to the comment field, and opens with the org's key.
    const read = (record: string, field: string) => keys.decryptFieldFor(as(org.admin, org.orgId), org.orgId, record, field, commented.data.body as string);
    expect(await read(commented.id, 'mr.comment.body')).toBe(comment);
    await expect(read(mrId, 'mr.comment.body')).rejects.toMatchObject({ code: 'ENVELOPE.INTEGRITY' });
  });

  it('an agent’s merge request is sealed the same way, with the agent’s own DEK access', async () => {
    const org = await newOrg(api, 'Agent code');
    const repoId = await repoWithBranch(org);
    const agent = await newAgent(api, org, 'coder');
    await projector.catchUp();
    expect((await call(api, 'POST', `/v1/orgs/${org.orgId}/repos/${repoId}/agents`, { token: org.admin.accessToken, body: { agentId: agent.agentId } })).status).toBe(204);
    const description = `agent notes ${randomUUID()}`;
    const reply = await call(api, 'POST', `/v1/orgs/${org.orgId}/repos/${repoId}/merge-requests`, {
      token: agent.token,
      body: { sourceBranch: 'feature', title: 'by an agent', description },
    });
    expect(reply.status).toBe(201);
    const [opened] = await eventData(`mr-${reply.body.id as string}`);
    expect(opened!.data.description).toMatch(TOKEN);
    await projector.catchUp();
    const read = await call(api, 'GET', `/v1/orgs/${org.orgId}/repos/${repoId}/merge-requests/${reply.body.id as string}`, { token: agent.token });
    expect(read.body.description).toBe(description);
  });
});

describe('an org without a data key (made before keys existed, or when the KMS was down at creation)', () => {
  it('gets one from its Admin’s next sensitive write; a member is told to ask, and nothing is appended in clear', async () => {
    const org = await newOrg(api, 'No key');
    await admin.query('delete from authz.org_key_state where org_id = $1', [org.orgId]);
    await admin.query('delete from authz.org_data_keys where org_id = $1', [org.orgId]);
    const member = await addMember(api, org, 'member');
    const refused = await call(api, 'POST', tasks(org.orgId), { token: member.accessToken, body: { title: 't', description: 'member text' } });
    expect(refused.status).toBe(409);
    expect(refused.body.type).toBe('urn:bastion:problem:no-data-key');
    expect((await admin.query("select 1 from events where org_id = $1 and type = 'TaskCreated'", [org.orgId])).rowCount).toBe(0);

    const taskId = await newTask(org, 'admin text');
    const [created] = await eventData(`task-${taskId}`);
    expect(created!.data.description).toMatch(TOKEN);
    expect((await call(api, 'POST', tasks(org.orgId), { token: member.accessToken, body: { title: 't', description: 'member text' } })).status).toBe(201);
  });
});

describe('a ciphertext opens only for the org, record and field it was sealed for', () => {
  it('descriptions swapped between two tasks are refused: the record fails closed, the list marks both unavailable', async () => {
    const org = await newOrg(api, 'Swap');
    const first = await newTask(org, `first ${randomUUID()}`, 'first');
    const second = await newTask(org, `second ${randomUUID()}`, 'second');
    await projector.catchUp();
    const [a, b] = [await storedDescription(first), await storedDescription(second)];
    await admin.query('update tasks set description = $2 where task_id = $1', [first, b]);
    await admin.query('update tasks set description = $2 where task_id = $1', [second, a]);

    const one = await call(api, 'GET', tasks(org.orgId, `/${first}`), { token: org.admin.accessToken });
    expect(one.status).toBe(500);
    expect(one.body.type).toBe('urn:bastion:problem:field-undecryptable');
    expect(JSON.stringify(one.body)).not.toContain(b);
    const list = await call(api, 'GET', tasks(org.orgId), { token: org.admin.accessToken });
    expect(list.status).toBe(200);
    expect(list.body.tasks).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ id: first, title: 'first', description: null, descriptionUnavailable: 'undecryptable' }),
        expect.objectContaining({ id: second, title: 'second', description: null, descriptionUnavailable: 'undecryptable' }),
      ]),
    );
    // The log names the record and field, never the token.
    expect(api.logs.join('\n')).toContain(first);
    expect(api.logs.join('\n')).not.toContain(b);

    // Put back, they open again: the refusal was the binding, not a broken key.
    await admin.query('update tasks set description = $2 where task_id = $1', [first, a]);
    expect((await call(api, 'GET', tasks(org.orgId, `/${first}`), { token: org.admin.accessToken })).status).toBe(200);
  });

  it('a description copied into another org’s task is refused, even under the same platform key', async () => {
    const a = await newOrg(api, 'A');
    const b = await newOrg(api, 'B');
    const taskA = await newTask(a, `A's secret ${randomUUID()}`);
    const taskB = await newTask(b, `B's own ${randomUUID()}`);
    await projector.catchUp();
    await admin.query('update tasks set description = $2 where task_id = $1', [taskB, await storedDescription(taskA)]);
    const reply = await call(api, 'GET', tasks(b.orgId, `/${taskB}`), { token: b.admin.accessToken });
    expect(reply.status).toBe(500);
    expect(reply.body.type).toBe('urn:bastion:problem:field-undecryptable');
  });

  it('a task description moved into a merge request of the same org (another field and record) is refused', async () => {
    const org = await newOrg(api, 'Fields');
    const taskId = await newTask(org, `task text ${randomUUID()}`);
    const repoId = await repoWithBranch(org);
    const mrId = await openMergeRequest(org, repoId, 'mr text');
    await projector.catchUp();
    await admin.query('update merge_requests set description = $2 where mr_id = $1', [mrId, await storedDescription(taskId)]);
    const reply = await call(api, 'GET', `/v1/orgs/${org.orgId}/repos/${repoId}/merge-requests/${mrId}`, { token: org.admin.accessToken });
    expect(reply.status).toBe(500);
    expect(reply.body.type).toBe('urn:bastion:problem:field-undecryptable');
  });
});

describe('revocation', () => {
  it('the revoke endpoint makes reads fail with key-revoked at once, lists still show the rest; restore brings them back', async () => {
    const org = await newOrg(api, 'Revoke');
    const description = `revocable ${randomUUID()}`;
    const taskId = await newTask(org, description, 'still visible');
    const repoId = await repoWithBranch(org);
    const mrId = await openMergeRequest(org, repoId, `mr ${randomUUID()}`);
    await projector.catchUp();
    // Warm the cache: the emergency stop must not wait for it to expire.
    expect((await call(api, 'GET', tasks(org.orgId, `/${taskId}`), { token: org.admin.accessToken })).body.description).toBe(description);
    await markMfaFresh(org.admin);
    expect((await call(api, 'POST', kms(org.orgId, '/revoke'), { token: org.admin.accessToken })).status).toBe(204);

    const one = await call(api, 'GET', tasks(org.orgId, `/${taskId}`), { token: org.admin.accessToken });
    expect(one.status).toBe(409);
    expect(one.body).toMatchObject({ type: 'urn:bastion:problem:key-revoked', revokedBy: 'organisation' });
    const mr = await call(api, 'GET', `/v1/orgs/${org.orgId}/repos/${repoId}/merge-requests/${mrId}`, { token: org.admin.accessToken });
    expect(mr.status).toBe(409);
    expect(mr.body.type).toBe('urn:bastion:problem:key-revoked');
    const list = await call(api, 'GET', tasks(org.orgId), { token: org.admin.accessToken });
    expect(list.status).toBe(200);
    expect(list.body.tasks).toEqual([
      expect.objectContaining({ id: taskId, title: 'still visible', description: null, descriptionUnavailable: 'key-revoked' }),
    ]);
    const canvas = await call(api, 'GET', `/v1/orgs/${org.orgId}/canvas`, { token: org.admin.accessToken });
    expect(canvas.status).toBe(200);
    expect((canvas.body.columns as Record<string, unknown[]>).backlog).toEqual([
      expect.objectContaining({ id: taskId, description: null, descriptionUnavailable: 'key-revoked' }),
    ]);
    // New sensitive data cannot be sealed either; work that needs no key goes on.
    const write = await call(api, 'POST', tasks(org.orgId), { token: org.admin.accessToken, body: { title: 't', description: 'new secret' } });
    expect(write.status).toBe(409);
    expect(write.body.type).toBe('urn:bastion:problem:key-revoked');
    expect((await call(api, 'PATCH', tasks(org.orgId, `/${taskId}`), { token: org.admin.accessToken, body: { title: 'renamed' } })).status).toBe(204);

    expect((await call(api, 'POST', kms(org.orgId, '/restore'), { token: org.admin.accessToken })).status).toBe(204);
    const back = await call(api, 'GET', tasks(org.orgId, `/${taskId}`), { token: org.admin.accessToken });
    expect(back.status).toBe(200);
    expect(back.body.description).toBe(description);
  });

  it('after moving the org to its own key (BYOK), the platform key alone no longer decrypts; removing access fails reads closed', async () => {
    const org = await newOrg(api, 'BYOK');
    const description = `customer-held ${randomUUID()}`;
    const taskId = await newTask(org, description);
    await projector.catchUp();
    const keyRef = `${RING}/cryptoKeys/byok-${randomUUID().slice(0, 8)}`;
    server.createKey(keyRef);
    await markMfaFresh(org.admin);
    expect((await call(api, 'PUT', kms(org.orgId), { token: org.admin.accessToken, body: { keyRef } })).status).toBe(200);
    expect((await call(api, 'GET', tasks(org.orgId, `/${taskId}`), { token: org.admin.accessToken })).body.description).toBe(description);

    // Staff holding the platform KMS and the database: the only wrapping left is under the org's key.
    const { rows } = await admin.query<{ key_ref: string; wrapped: Buffer }>('select key_ref, wrapped from authz.org_data_keys where org_id = $1', [org.orgId]);
    expect(rows.map((r) => r.key_ref)).toEqual([keyRef]);
    await expect(local.unwrap('local://platform', rows[0]!.wrapped, orgKeyWrappingAad(org.orgId, 1))).rejects.toThrow();
    const platformOnly = new OrgKeyService({ kms: new KmsRouter({ local }), ttlSeconds: 0 });
    const token = await storedDescription(taskId);
    await expect(platformOnly.decryptFieldFor(as(org.admin, org.orgId), org.orgId, taskId, 'task.description', token)).rejects.toThrow();

    // The customer pulls Bastion's access in their KMS: after the cache bound (1 s here), reads fail closed.
    server.revokeAccess(keyRef);
    try {
      const refused = await within(
        3000,
        () => call(api, 'GET', tasks(org.orgId, `/${taskId}`), { token: org.admin.accessToken }),
        (reply) => reply.status === 409,
      );
      expect(refused.status).toBe(409);
      expect(refused.body).toMatchObject({ type: 'urn:bastion:problem:key-revoked', revokedBy: 'kms' });
    } finally {
      server.grantAccess(keyRef);
    }
    expect((await call(api, 'GET', tasks(org.orgId, `/${taskId}`), { token: org.admin.accessToken })).body.description).toBe(description);
  });

  it('disabling the platform key in the local KMS fails reads closed within the cache bound; re-enabling restores', async () => {
    const org = await newOrg(api, 'Disable');
    const description = `platform-held ${randomUUID()}`;
    const taskId = await newTask(org, description);
    await projector.catchUp();
    const read = () => call(api, 'GET', tasks(org.orgId, `/${taskId}`), { token: org.admin.accessToken });
    expect((await read()).body.description).toBe(description);

    await local.disable('platform');
    const disabledAt = Date.now();
    try {
      const refused = await within(3000, read, (reply) => reply.status === 409);
      expect(refused.status).toBe(409);
      expect(refused.body).toMatchObject({ type: 'urn:bastion:problem:key-revoked', revokedBy: 'kms' });
      // The bound is the cache age (1 s) plus request time, well under the 3 s the poll would allow.
      expect(Date.now() - disabledAt).toBeLessThan(1000 + 1000);
      const list = await call(api, 'GET', tasks(org.orgId), { token: org.admin.accessToken });
      expect(list.body.tasks).toEqual([expect.objectContaining({ id: taskId, description: null, descriptionUnavailable: 'key-revoked' })]);
    } finally {
      await local.enable('platform');
    }
    expect((await read()).body.description).toBe(description);
  });
});

describe('the DEK a reader holds is the org’s, for the tokens it sealed', () => {
  it('a token decrypts with the org’s DEK and the binding it names, nothing else (sanity of the test’s own reading)', async () => {
    const org = await newOrg(api, 'Sanity');
    const description = `sanity ${randomUUID()}`;
    const taskId = await newTask(org, description);
    await projector.catchUp();
    const dek: DataKey = await keys.dataKeyFor(as(org.admin, org.orgId), org.orgId);
    const token = await storedDescription(taskId);
    expect(decryptField(dek, token, { orgId: org.orgId, record: taskId, field: 'task.description' })).toBe(description);
    expect(() => decryptField(dek, token, { orgId: org.orgId, record: taskId, field: 'mr.description' })).toThrow();
  });
});
