/**
 * `/v1/orgs/:orgId/security/kms` over HTTP, against the real API with SecurityModule registered in AppModule, a
 * real database and Redis, the local KMS in a temporary directory and the gRPC Google Cloud KMS test server
 * (`GCP_KMS_ENDPOINT`).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toNewEvents } from '@bastion/domain';
import { KeyRevokedError } from '@bastion/infra/crypto/kms';
import { FakeGcpKmsServer, startFakeGcpKmsServer } from '@bastion/infra/crypto/kms/testing/fake-gcp-kms-server';
import { type OrgKeyService, type StampOrgKeyEvent, type Transact } from '@bastion/infra/crypto/org-keys';
import { withPrincipal } from '@bastion/infra/database/with-principal';
import { uuidv7 } from '@bastion/infra/ids/uuid-v7';
import type { Pool } from 'pg';
import { type TestApi, startTestApi } from '../../../../test/support/api';
import { closePools, poolFor, type TestDatabase, workerDatabase } from '../../../../test/support/database';
import { call, decodeJwt } from '../../../../test/support/http';
import { type SignedIn, sessionCredentials } from '../../../../test/support/identity';
import { addMember, newOrg, type OrgFixture } from '../../../../test/support/orgs';
import { dropPrefix } from '../../../../test/support/redis';
import { keyProblem } from './key-problems';
import { ORG_KEY_SERVICE } from './security.tokens';

const RING = 'projects/bastion-test/locations/europe-west1/keyRings/tenants';
const ENV = ['GCP_KMS_ENDPOINT', 'KMS_LOCAL_DIR', 'DATA_KEY_TTL_SECONDS'] as const;

let db: TestDatabase;
let api: TestApi;
let admin: Pool;
let app: Pool;
let server: FakeGcpKmsServer;
let keys: OrgKeyService;
const savedEnv: Partial<Record<(typeof ENV)[number], string | undefined>> = {};

const path = (orgId: string, suffix = '') => `/v1/orgs/${orgId}/security/kms${suffix}`;

function newGcpKey(): string {
  const name = `${RING}/cryptoKeys/http-${randomUUID().slice(0, 8)}`;
  server.createKey(name);
  return name;
}

/** An org as it was before org creation made its DEK: none. */
async function withoutDataKey(orgId: string): Promise<void> {
  await admin.query('delete from authz.org_key_state where org_id = $1', [orgId]);
  await admin.query('delete from authz.org_data_keys where org_id = $1', [orgId]);
}

async function markMfaFresh(user: SignedIn): Promise<void> {
  await admin.query('update authz.sessions set mfa_at = now() where id = $1', [decodeJwt(user.accessToken).payload.sid]);
}

function as(user: SignedIn, orgId: string): Transact {
  return (work) => withPrincipal(app, sessionCredentials(api, user.accessToken), orgId, work);
}

function stampAs(user: SignedIn, orgId: string): StampOrgKeyEvent {
  return (event) =>
    toNewEvents([event], { orgId, actor: { type: 'human', id: user.userId }, correlationId: randomUUID(), now: new Date(), newId: () => uuidv7() })[0]!;
}

/** An org whose DEK exists under the platform key (as org creation makes it), with one sealed field. */
async function orgWithSecret(): Promise<{ org: OrgFixture; token: string; plaintext: string }> {
  const org = await newOrg(api, 'Keys');
  await keys.ensureDataKey(as(org.admin, org.orgId), org.orgId, stampAs(org.admin, org.orgId));
  const plaintext = `escalation body ${randomUUID()}`;
  const token = await keys.encryptFieldFor(as(org.admin, org.orgId), org.orgId, 'esc-1', 'escalation.body', plaintext);
  return { org, token, plaintext };
}

beforeAll(async () => {
  server = await startFakeGcpKmsServer();
  for (const name of ENV) savedEnv[name] = process.env[name];
  // Read by SecurityModule's factory while the API starts.
  process.env.GCP_KMS_ENDPOINT = `127.0.0.1:${server.port}`;
  process.env.KMS_LOCAL_DIR = mkdtempSync(join(tmpdir(), 'bastion-kms-http-'));
  process.env.DATA_KEY_TTL_SECONDS = '30';
  db = await workerDatabase();
  api = await startTestApi(db);
  admin = poolFor(db.adminUrl);
  app = poolFor(db.urlFor('bastion_app'), 4);
  try {
    keys = api.app.get<OrgKeyService>(ORG_KEY_SERVICE);
  } catch {
    throw new Error('SecurityModule is not registered: add it to the imports of AppModule (apps/api/src/app.module.ts).');
  }
});

afterAll(async () => {
  await api?.close();
  await server?.stop();
  await closePools();
  if (api) await dropPrefix(api.redisPrefix);
  for (const name of ENV) {
    if (savedEnv[name] === undefined) delete process.env[name];
    else process.env[name] = savedEnv[name];
  }
});

describe('GET /v1/orgs/:orgId/security/kms', () => {
  it('shows where the DEK is wrapped, what the KMS says of that key, and the emergency stop', async () => {
    const bare = await newOrg(api, 'Made before keys');
    await withoutDataKey(bare.orgId);
    const none = await call(api, 'GET', path(bare.orgId), { token: bare.admin.accessToken });
    expect(none.status).toBe(200);
    expect(none.body).toMatchObject({ keyRef: null, provider: null, state: 'none', revoked: false });

    // Org creation makes the org's DEK, under the platform key.
    const org = await newOrg(api, 'Fresh');
    const platform = await call(api, 'GET', path(org.orgId), { token: org.admin.accessToken });
    expect(platform.body).toMatchObject({ keyRef: 'local://platform', provider: 'local', version: 1, state: 'enabled', revoked: false });
    // References and states only: no wrapped bytes, no key material.
    expect(Object.keys(platform.body).sort()).toEqual(['createdAt', 'keyRef', 'provider', 'revoked', 'revokedAt', 'rewrappedAt', 'state', 'version']);
  });

  it('a member (not org:security) cannot see it', async () => {
    const { org } = await orgWithSecret();
    const member = await addMember(api, org, 'member');
    const reply = await call(api, 'GET', path(org.orgId), { token: member.accessToken });
    expect(reply.status).toBe(403);
    expect(reply.body.type).toBe('urn:bastion:problem:forbidden');
  });
});

describe('PUT /v1/orgs/:orgId/security/kms', () => {
  it.each([
    ['not a key reference', 'my-key'],
    ['a local key', 'local://platform'],
    ['a key version instead of a key', `${RING}/cryptoKeys/org/cryptoKeyVersions/1`],
    ['a bad project id', 'projects/X/locations/europe-west1/keyRings/r/cryptoKeys/k'],
  ])('refuses %s with a 400 problem naming keyRef', async (_case, keyRef) => {
    const { org } = await orgWithSecret();
    await markMfaFresh(org.admin);
    const reply = await call(api, 'PUT', path(org.orgId), { token: org.admin.accessToken, body: { keyRef } });
    expect(reply.status).toBe(400);
    expect(reply.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(reply.body).toMatchObject({ type: 'urn:bastion:problem:validation', errors: [expect.objectContaining({ field: 'keyRef' })] });
  });

  it('refuses a body without keyRef, or with anything else in it', async () => {
    const { org } = await orgWithSecret();
    await markMfaFresh(org.admin);
    expect((await call(api, 'PUT', path(org.orgId), { token: org.admin.accessToken, body: {} })).status).toBe(400);
    const extra = await call(api, 'PUT', path(org.orgId), { token: org.admin.accessToken, body: { keyRef: newGcpKey(), wrapped: 'AAAA' } });
    expect(extra.status).toBe(400);
  });

  it("moves the DEK under the org's key and destroys the platform-wrapped copy; the data still opens", async () => {
    const { org, token, plaintext } = await orgWithSecret();
    const keyRef = newGcpKey();
    await markMfaFresh(org.admin);
    const reply = await call(api, 'PUT', path(org.orgId), { token: org.admin.accessToken, body: { keyRef } });
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ keyRef, provider: 'gcp', version: 1, state: 'enabled', revoked: false, rewrappedAt: expect.any(String) });

    const { rows } = await admin.query('select key_ref, provider from authz.org_data_keys where org_id = $1', [org.orgId]);
    expect(rows).toEqual([{ key_ref: keyRef, provider: 'gcp' }]);
    expect(await keys.decryptFieldFor(as(org.admin, org.orgId), org.orgId, 'esc-1', 'escalation.body', token)).toBe(plaintext);
    const { rows: events } = await admin.query("select type, data from events where stream_id = 'org-' || $1 and type like 'OrgKey%' order by revision", [
      org.orgId,
    ]);
    expect(events.map((e: { type: string }) => e.type)).toEqual(['OrgKeyCreated', 'OrgKeyRewrapped']);
  });

  it('answers 422 naming keyRef when the KMS will not wrap under the key, and changes nothing', async () => {
    const { org } = await orgWithSecret();
    await markMfaFresh(org.admin);
    const reply = await call(api, 'PUT', path(org.orgId), {
      token: org.admin.accessToken,
      body: { keyRef: `${RING}/cryptoKeys/never-created-${randomUUID().slice(0, 8)}` },
    });
    expect(reply.status).toBe(422);
    expect(reply.body).toMatchObject({ type: 'urn:bastion:problem:kms-key-unusable', errors: [expect.objectContaining({ field: 'keyRef' })] });
    const { rows } = await admin.query('select provider from authz.org_data_keys where org_id = $1', [org.orgId]);
    expect(rows).toEqual([{ provider: 'local' }]);
  });

  it('a member (not org:security) is refused, even with a fresh MFA verification', async () => {
    const { org } = await orgWithSecret();
    const member = await addMember(api, org, 'member');
    await markMfaFresh(member);
    const reply = await call(api, 'PUT', path(org.orgId), { token: member.accessToken, body: { keyRef: newGcpKey() } });
    expect(reply.status).toBe(403);
    expect(reply.body.type).toBe('urn:bastion:problem:forbidden');
  });

  it('an Admin without a fresh MFA verification must step up first', async () => {
    const { org } = await orgWithSecret();
    server.resetCalls();
    const reply = await call(api, 'PUT', path(org.orgId), { token: org.admin.accessToken, body: { keyRef: newGcpKey() } });
    expect(reply.status).toBe(403);
    expect(reply.body.type).toBe('urn:bastion:problem:step-up-required');
    expect(server.calls.encrypt).toBe(0);
  });
});

describe('POST /v1/orgs/:orgId/security/kms/revoke and /restore', () => {
  it('revoke fails every read closed with key-revoked at once; restore brings the data back', async () => {
    const { org, token, plaintext } = await orgWithSecret();
    const read = () => keys.decryptFieldFor(as(org.admin, org.orgId), org.orgId, 'esc-1', 'escalation.body', token);
    expect(await read()).toBe(plaintext);
    await markMfaFresh(org.admin);

    expect((await call(api, 'POST', path(org.orgId, '/revoke'), { token: org.admin.accessToken })).status).toBe(204);
    const error = await read().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KeyRevokedError);
    expect(keyProblem(error)?.problem).toMatchObject({ type: 'urn:bastion:problem:key-revoked', status: 409 });
    expect((await call(api, 'GET', path(org.orgId), { token: org.admin.accessToken })).body).toMatchObject({ revoked: true, revokedAt: expect.any(String) });
    // Moving a revoked key is refused with the same problem.
    const move = await call(api, 'PUT', path(org.orgId), { token: org.admin.accessToken, body: { keyRef: newGcpKey() } });
    expect(move.status).toBe(409);
    expect(move.body.type).toBe('urn:bastion:problem:key-revoked');
    // Idempotent.
    expect((await call(api, 'POST', path(org.orgId, '/revoke'), { token: org.admin.accessToken })).status).toBe(204);

    expect((await call(api, 'POST', path(org.orgId, '/restore'), { token: org.admin.accessToken })).status).toBe(204);
    expect(await read()).toBe(plaintext);
    const { rows } = await admin.query("select type from events where stream_id = 'org-' || $1 and type like 'OrgKey%' order by revision", [org.orgId]);
    expect(rows.map((r: { type: string }) => r.type)).toEqual(['OrgKeyCreated', 'OrgKeyRevoked', 'OrgKeyRestored']);
  });

  it('need org:security and step-up; an org without a DEK has nothing to revoke (404)', async () => {
    const { org } = await orgWithSecret();
    const member = await addMember(api, org, 'member');
    await markMfaFresh(member);
    expect((await call(api, 'POST', path(org.orgId, '/revoke'), { token: member.accessToken })).status).toBe(403);
    const noStepUp = await call(api, 'POST', path(org.orgId, '/revoke'), { token: org.admin.accessToken });
    expect(noStepUp.status).toBe(403);
    expect(noStepUp.body.type).toBe('urn:bastion:problem:step-up-required');
    expect((await call(api, 'POST', path(org.orgId, '/restore'), { token: org.admin.accessToken })).body.type).toBe(
      'urn:bastion:problem:step-up-required',
    );

    const bare = await newOrg(api, 'Bare');
    await withoutDataKey(bare.orgId);
    await markMfaFresh(bare.admin);
    const reply = await call(api, 'POST', path(bare.orgId, '/revoke'), { token: bare.admin.accessToken });
    expect(reply.status).toBe(404);
  });
});
