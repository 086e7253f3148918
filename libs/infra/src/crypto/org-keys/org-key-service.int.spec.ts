/**
 * Per-org DEKs against a real database (migrations/0011_org-keys.sql through bastion_app and authz.begin), a real
 * Redis for evictions, the local KMS on disk and the gRPC Google Cloud KMS test server. Users, orgs and sessions
 * are made through the real API; every key operation acts as a user only through withPrincipal.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as grpcStatus } from '@grpc/grpc-js';
import { toNewEvents } from '@bastion/domain';
import Redis from 'ioredis';
import type { Pool } from 'pg';
import { type TestApi, startTestApi } from '../../../../../test/support/api';
import { closePools, poolFor, type TestDatabase, workerDatabase } from '../../../../../test/support/database';
import { decodeJwt } from '../../../../../test/support/http';
import { type SignedIn, sessionCredentials } from '../../../../../test/support/identity';
import { addMember, newOrg, type OrgFixture } from '../../../../../test/support/orgs';
import { dropPrefix, redisPrefix } from '../../../../../test/support/redis';
import { redisUrl } from '../../../../../test/support/services';
import { withPrincipal } from '../../database/with-principal';
import { uuidv7 } from '../../ids/uuid-v7';
import { openRedis } from '../../queue/redis';
import { DataKeyCache } from '../envelope';
import { GcpKms, KeyRefInvalidError, KeyRevokedError, KmsIntegrityError, LocalKms } from '../kms';
import { FakeGcpKmsServer, startFakeGcpKmsServer } from '../kms/testing/fake-gcp-kms-server';
import {
  KmsRouter,
  OrgKeyConcurrentChangeError,
  OrgKeyEvictions,
  OrgKeyRepository,
  OrgKeyRevokedError,
  OrgKeyService,
  orgKeyWrappingAad,
  type StampOrgKeyEvent,
  TargetKeyUnusableError,
  type Transact,
} from '.';

const RING = 'projects/bastion-test/locations/europe-west1/keyRings/tenants';
const PLATFORM = 'local://platform';

let db: TestDatabase;
let api: TestApi;
let admin: Pool;
let app: Pool;
let server: FakeGcpKmsServer;
let gcp: GcpKms;
let local: LocalKms;
let router: KmsRouter;
let publisher: Redis;
let prefix: string;
const started: OrgKeyEvictions[] = [];
let keys = 0;

interface Process {
  readonly service: OrgKeyService;
  readonly cache: DataKeyCache;
  readonly evictions: OrgKeyEvictions;
  readonly subscriber: Redis;
}

/** One API process's key service: its own cache and its own eviction subscription. */
async function newProcess(ttlSeconds = 30, kms: KmsRouter = router): Promise<Process> {
  const cache = new DataKeyCache({ ttlSeconds });
  const subscriber = await openRedis(redisUrl());
  const evictions = new OrgKeyEvictions({ publisher, subscriber, prefix, cache });
  await evictions.start();
  started.push(evictions);
  return { service: new OrgKeyService({ kms, cache, evictions }), cache, evictions, subscriber };
}

function newGcpKey(): string {
  const name = `${RING}/cryptoKeys/org-${++keys}-${randomUUID().slice(0, 8)}`;
  server.createKey(name);
  return name;
}

function credentials(user: SignedIn) {
  return sessionCredentials(api, user.accessToken);
}

/** Short transactions as `user`, scoped to the org: the only way these tests act as a user. */
function as(user: SignedIn, orgId: string): Transact {
  return (work) => withPrincipal(app, credentials(user), orgId, work);
}

function stampAs(user: SignedIn, orgId: string): StampOrgKeyEvent {
  return (event) =>
    toNewEvents([event], {
      orgId,
      actor: { type: 'human', id: user.userId },
      sessionId: decodeJwt(user.accessToken).payload.sid as string,
      correlationId: randomUUID(),
      now: new Date(),
      newId: () => uuidv7(),
    })[0]!;
}

async function markMfaFresh(user: SignedIn, minutesAgo = 0): Promise<void> {
  await admin.query(`update authz.sessions set mfa_at = now() - make_interval(mins => $2) where id = $1`, [
    decodeJwt(user.accessToken).payload.sid,
    minutesAgo,
  ]);
}

async function storedKeys(orgId: string) {
  const { rows } = await admin.query<{ version: number; key_ref: string; provider: string; wrapped: Buffer }>(
    'select version, key_ref, provider, wrapped from authz.org_data_keys where org_id = $1 order by version',
    [orgId],
  );
  return rows;
}

async function orgEvents(orgId: string) {
  const { rows } = await admin.query<{ type: string; data: Record<string, unknown>; metadata: Record<string, unknown> }>(
    "select type, data, metadata from events where stream_id = 'org-' || $1 order by revision",
    [orgId],
  );
  return rows;
}

/** No byte string of `secrets` appears in the org's events, in hex, base64 or base64url. */
async function expectNoKeyMaterialInEvents(orgId: string, secrets: Buffer[]): Promise<void> {
  const text = JSON.stringify(await orgEvents(orgId));
  for (const secret of secrets) {
    for (const encoding of ['hex', 'base64', 'base64url'] as const) expect(text).not.toContain(secret.toString(encoding));
  }
}

async function eventually(check: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const errorOf = (promise: Promise<unknown>): Promise<unknown> => promise.then(
  () => {
    throw new Error('expected a failure');
  },
  (error: unknown) => error,
);

/** An org whose DEK exists (created by its Admin on first use), with a field sealed under it. */
async function orgWithSecret(p: Process): Promise<{ org: OrgFixture; token: string; plaintext: string }> {
  const org = await newOrg(api, 'Keys');
  await p.service.ensureDataKey(as(org.admin, org.orgId), org.orgId, stampAs(org.admin, org.orgId));
  const plaintext = `contract terms ${randomUUID()}`;
  const token = await p.service.encryptFieldFor(as(org.admin, org.orgId), org.orgId, 'task-1', 'task.body', plaintext);
  return { org, token, plaintext };
}

let savedKmsDir: string | undefined;

beforeAll(async () => {
  db = await workerDatabase();
  // The API makes each org's DEK at org creation: under this suite's local KMS, so the services here unwrap it.
  const kmsDir = mkdtempSync(join(tmpdir(), 'bastion-org-keys-'));
  savedKmsDir = process.env.KMS_LOCAL_DIR;
  process.env.KMS_LOCAL_DIR = kmsDir;
  api = await startTestApi(db);
  admin = poolFor(db.adminUrl);
  app = poolFor(db.urlFor('bastion_app'), 4);
  server = await startFakeGcpKmsServer();
  gcp = new GcpKms({ clientOptions: server.clientOptions(), retry: { maxAttempts: 2 }, callTimeoutMs: 2000, sleep: async () => undefined });
  local = new LocalKms({ directory: kmsDir });
  router = new KmsRouter({ local, gcp });
  prefix = redisPrefix('org-keys');
  publisher = new Redis(redisUrl());
});

afterAll(async () => {
  for (const evictions of started) await evictions.close();
  publisher?.disconnect();
  await gcp?.close();
  await server?.stop();
  await api?.close();
  await closePools();
  if (api) await dropPrefix(api.redisPrefix);
  if (savedKmsDir === undefined) delete process.env.KMS_LOCAL_DIR;
  else process.env.KMS_LOCAL_DIR = savedKmsDir;
});

/** An org as it was before org creation made its DEK: none. */
async function withoutDataKey(orgId: string): Promise<void> {
  await admin.query('delete from authz.org_key_state where org_id = $1', [orgId]);
  await admin.query('delete from authz.org_data_keys where org_id = $1', [orgId]);
}

describe("an org's data key", () => {
  it('is created at org creation, wrapped under the platform key, and round-trips a field for any member', async () => {
    const p = await newProcess();
    const { org, token, plaintext } = await orgWithSecret(p);
    const viewer = await addMember(api, org, 'viewer');

    expect(await p.service.decryptFieldFor(as(viewer, org.orgId), org.orgId, 'task-1', 'task.body', token)).toBe(plaintext);
    const stored = await storedKeys(org.orgId);
    expect(stored).toEqual([{ version: 1, key_ref: PLATFORM, provider: 'local', wrapped: expect.any(Buffer) }]);

    // The same DEK again, not a second one; and no plaintext DEK anywhere but memory.
    const dek = await p.service.ensureDataKey(as(org.admin, org.orgId), org.orgId, stampAs(org.admin, org.orgId));
    expect(dek.version).toBe(1);
    expect(await local.unwrap(PLATFORM, stored[0]!.wrapped, orgKeyWrappingAad(org.orgId, 1))).toEqual(dek.key);
    expect(stored[0]!.wrapped.includes(dek.key)).toBe(false);

    const events = await orgEvents(org.orgId);
    expect(events.filter((e) => e.type.startsWith('OrgKey'))).toEqual([
      expect.objectContaining({ type: 'OrgKeyCreated', data: { orgId: org.orgId, version: 1, keyRef: PLATFORM, provider: 'local' } }),
    ]);
    await expectNoKeyMaterialInEvents(org.orgId, [dek.key, stored[0]!.wrapped]);
  });

  it('cannot be created by a member without org:security', async () => {
    const p = await newProcess();
    const org = await newOrg(api, 'No key yet');
    await withoutDataKey(org.orgId);
    const member = await addMember(api, org, 'member');
    const error = await errorOf(p.service.ensureDataKey(as(member, org.orgId), org.orgId, stampAs(member, org.orgId)));
    expect(error).toMatchObject({ code: '42501' });
    expect(await storedKeys(org.orgId)).toEqual([]);
  });

  it('is bound to its org: a wrapped DEK copied into another org’s row does not unwrap there', async () => {
    const p = await newProcess(0);
    const a = await orgWithSecret(p);
    const b = await orgWithSecret(p);
    const [wrappedA] = await storedKeys(a.org.orgId);
    await admin.query('update authz.org_data_keys set wrapped = $1 where org_id = $2', [wrappedA!.wrapped, b.org.orgId]);
    const error = await errorOf(p.service.decryptFieldFor(as(b.org.admin, b.org.orgId), b.org.orgId, 'task-1', 'task.body', b.token));
    expect(error).toBeInstanceOf(KmsIntegrityError);
  });

  it('cannot be stored in plaintext: the table refuses a bare 32-byte key', async () => {
    const org = await newOrg(api, 'Plain');
    await withoutDataKey(org.orgId);
    const error = await errorOf(
      admin.query("insert into authz.org_data_keys (org_id, version, key_ref, provider, wrapped) values ($1, 1, 'local://platform', 'local', $2)", [
        org.orgId,
        Buffer.alloc(32, 7),
      ]),
    );
    expect(error).toMatchObject({ code: '23514' });
  });
});

describe("moving to the org's own key (BYOK)", () => {
  it('destroys the platform-wrapped copy: no row keeps it, and the platform key alone can no longer decrypt', async () => {
    const p = await newProcess();
    const { org, token, plaintext } = await orgWithSecret(p);
    const [before] = await storedKeys(org.orgId);
    const keyRef = newGcpKey();
    await markMfaFresh(org.admin);

    const moved = await p.service.rewrapTo(as(org.admin, org.orgId), org.orgId, keyRef, stampAs(org.admin, org.orgId));
    expect(moved).toMatchObject({ keyRef, provider: 'gcp', version: 1, revoked: false });

    const after = await storedKeys(org.orgId);
    expect(after).toEqual([{ version: 1, key_ref: keyRef, provider: 'gcp', wrapped: expect.any(Buffer) }]);
    const { rows } = await admin.query('select count(*)::int as n from authz.org_data_keys where wrapped = $1 or (org_id = $2 and provider = $3)', [
      before!.wrapped,
      org.orgId,
      'local',
    ]);
    expect(rows[0].n).toBe(0);
    // The platform key cannot open what is stored now…
    await expect(local.unwrap(PLATFORM, after[0]!.wrapped, orgKeyWrappingAad(org.orgId, 1))).rejects.toBeInstanceOf(KmsIntegrityError);
    // …nor can a deployment holding only the platform key read the org's data.
    const platformOnly = new OrgKeyService({ kms: new KmsRouter({ local }), ttlSeconds: 0 });
    await expect(platformOnly.decryptFieldFor(as(org.admin, org.orgId), org.orgId, 'task-1', 'task.body', token)).rejects.toBeInstanceOf(
      KeyRefInvalidError,
    );
    // The DEK did not change, so existing data opens through the org's key, from a cold cache.
    const fresh = await newProcess(0);
    expect(await fresh.service.decryptFieldFor(as(org.admin, org.orgId), org.orgId, 'task-1', 'task.body', token)).toBe(plaintext);
    // And only through it: when the org disables its key, the data is gone for Bastion too.
    server.disable(keyRef);
    try {
      await expect(fresh.service.decryptFieldFor(as(org.admin, org.orgId), org.orgId, 'task-1', 'task.body', token)).rejects.toBeInstanceOf(
        KeyRevokedError,
      );
    } finally {
      server.enable(keyRef);
    }

    const rewrapped = (await orgEvents(org.orgId)).filter((e) => e.type === 'OrgKeyRewrapped');
    expect(rewrapped).toEqual([
      expect.objectContaining({
        data: { orgId: org.orgId, version: 1, keyRef, provider: 'gcp', previousKeyRef: PLATFORM, previousProvider: 'local' },
        metadata: expect.objectContaining({ orgId: org.orgId, actor: { type: 'human', id: org.admin.userId } }),
      }),
    ]);
    const dek = await fresh.service.dataKeyFor(as(org.admin, org.orgId), org.orgId);
    await expectNoKeyMaterialInEvents(org.orgId, [dek.key, before!.wrapped, after[0]!.wrapped]);
  });

  it('evicts the cached DEK on every process, so the next read goes through the new key', async () => {
    const a = await newProcess();
    const b = await newProcess();
    const { org, token } = await orgWithSecret(a);
    await b.service.decryptFieldFor(as(org.admin, org.orgId), org.orgId, 'task-1', 'task.body', token);
    expect(b.cache.get(org.orgId, 1)).toBeDefined();
    await markMfaFresh(org.admin);
    await a.service.rewrapTo(as(org.admin, org.orgId), org.orgId, newGcpKey(), stampAs(org.admin, org.orgId));
    expect(a.cache.get(org.orgId, 1)).toBeUndefined();
    await eventually(() => b.cache.get(org.orgId, 1) === undefined, "process B's eviction");
  });

  it('refuses a key Bastion may encrypt with but not decrypt with, and changes nothing', async () => {
    const p = await newProcess();
    const { org } = await orgWithSecret(p);
    const [before] = await storedKeys(org.orgId);
    await markMfaFresh(org.admin);
    server.failNext(grpcStatus.PERMISSION_DENIED, { method: 'decrypt' });
    const error = await errorOf(p.service.rewrapTo(as(org.admin, org.orgId), org.orgId, newGcpKey(), stampAs(org.admin, org.orgId)));
    expect(error).toBeInstanceOf(TargetKeyUnusableError);
    expect((error as TargetKeyUnusableError).reason).toMatch(/may encrypt but not decrypt/);
    expect(await storedKeys(org.orgId)).toEqual([before]);
    expect((await orgEvents(org.orgId)).map((e) => e.type)).not.toContain('OrgKeyRewrapped');
  });

  it('a rewrap of stale state loses to the one that committed first (compare-and-swap)', async () => {
    const p = await newProcess();
    const { org } = await orgWithSecret(p);
    await markMfaFresh(org.admin);
    const stale = await as(org.admin, org.orgId)((tx) => new OrgKeyRepository(tx).read(org.orgId));
    await p.service.rewrapTo(as(org.admin, org.orgId), org.orgId, newGcpKey(), stampAs(org.admin, org.orgId));
    const keyRef = newGcpKey();
    const wrapped = await gcp.wrap(keyRef, Buffer.alloc(32, 1), orgKeyWrappingAad(org.orgId, 1));
    const event = stampAs(org.admin, org.orgId)({
      type: 'OrgKeyRewrapped',
      data: { orgId: org.orgId, version: 1, keyRef, provider: 'gcp', previousKeyRef: PLATFORM, previousProvider: 'local' },
    });
    const error = await errorOf(
      as(org.admin, org.orgId)((tx) => new OrgKeyRepository(tx).rewrap({ expected: stale!, keyRef, provider: 'gcp', wrapped, event })),
    );
    expect(error).toBeInstanceOf(OrgKeyConcurrentChangeError);
  });

  it('a member (not org:security) is refused the key change, before any KMS call', async () => {
    const p = await newProcess();
    const { org } = await orgWithSecret(p);
    const member = await addMember(api, org, 'member');
    await markMfaFresh(member);
    const [before] = await storedKeys(org.orgId);
    server.resetCalls();
    const error = await errorOf(p.service.rewrapTo(as(member, org.orgId), org.orgId, newGcpKey(), stampAs(member, org.orgId)));
    expect(error).toMatchObject({ code: '42501' });
    expect(server.calls).toEqual({ encrypt: 0, decrypt: 0, getCryptoKey: 0 });
    expect(await storedKeys(org.orgId)).toEqual([before]);
    await expect(p.service.revoke(as(member, org.orgId), org.orgId, stampAs(member, org.orgId))).rejects.toMatchObject({ code: '42501' });
  });

  it('an Admin whose session has no fresh MFA verification is refused the key change, revoke and restore (step-up)', async () => {
    const p = await newProcess();
    const { org } = await orgWithSecret(p);
    const [before] = await storedKeys(org.orgId);
    server.resetCalls();
    const change = () => p.service.rewrapTo(as(org.admin, org.orgId), org.orgId, newGcpKey(), stampAs(org.admin, org.orgId));
    await expect(change()).rejects.toMatchObject({ code: 'BA001' });
    await markMfaFresh(org.admin, 16); // verified, but longer ago than 15 minutes
    await expect(change()).rejects.toMatchObject({ code: 'BA001' });
    await expect(p.service.revoke(as(org.admin, org.orgId), org.orgId, stampAs(org.admin, org.orgId))).rejects.toMatchObject({ code: 'BA001' });
    await expect(p.service.restore(as(org.admin, org.orgId), org.orgId, stampAs(org.admin, org.orgId))).rejects.toMatchObject({ code: 'BA001' });
    expect(server.calls).toEqual({ encrypt: 0, decrypt: 0, getCryptoKey: 0 });
    expect(await storedKeys(org.orgId)).toEqual([before]);
    expect((await orgEvents(org.orgId)).map((e) => e.type)).toEqual(['OrganizationCreated', 'MemberAdded', 'OrgKeyCreated']);
  });
});

describe('the emergency stop', () => {
  it('makes decryption fail with key-revoked at once on every process, and restore brings it back', async () => {
    const a = await newProcess();
    const b = await newProcess();
    // A process deaf to Redis still refuses at once: the stop is read from the database on every use.
    const deaf = new OrgKeyService({ kms: router, ttlSeconds: 30 });
    const { org, token, plaintext } = await orgWithSecret(a);
    const member = await addMember(api, org, 'member');
    const read = (p: OrgKeyService) => p.decryptFieldFor(as(member, org.orgId), org.orgId, 'task-1', 'task.body', token);
    for (const p of [a.service, b.service, deaf]) expect(await read(p)).toBe(plaintext);
    expect(b.cache.get(org.orgId, 1)).toBeDefined();

    await markMfaFresh(org.admin);
    expect(await a.service.revoke(as(org.admin, org.orgId), org.orgId, stampAs(org.admin, org.orgId))).toBe(true);
    expect(a.cache.get(org.orgId, 1)).toBeUndefined();
    for (const p of [a.service, b.service, deaf]) {
      const error = await errorOf(read(p));
      expect(error).toBeInstanceOf(OrgKeyRevokedError);
      expect(error).toBeInstanceOf(KeyRevokedError);
      expect(error).toMatchObject({ code: 'KMS.KEY_REVOKED' });
    }
    await eventually(() => b.cache.get(org.orgId, 1) === undefined, "process B's eviction");
    // The key cannot be moved while revoked either.
    await expect(a.service.rewrapTo(as(org.admin, org.orgId), org.orgId, newGcpKey(), stampAs(org.admin, org.orgId))).rejects.toBeInstanceOf(
      OrgKeyRevokedError,
    );
    // Revoking twice changes nothing and records nothing.
    expect(await a.service.revoke(as(org.admin, org.orgId), org.orgId, stampAs(org.admin, org.orgId))).toBe(false);

    expect(await a.service.restore(as(org.admin, org.orgId), org.orgId, stampAs(org.admin, org.orgId))).toBe(true);
    for (const p of [a.service, b.service, deaf]) expect(await read(p)).toBe(plaintext);
    expect(await a.service.restore(as(org.admin, org.orgId), org.orgId, stampAs(org.admin, org.orgId))).toBe(false);

    const types = (await orgEvents(org.orgId)).map((e) => e.type).filter((t) => t.startsWith('OrgKey'));
    expect(types).toEqual(['OrgKeyCreated', 'OrgKeyRevoked', 'OrgKeyRestored']);
    const status = await a.service.status(as(org.admin, org.orgId), org.orgId);
    expect(status).toMatchObject({ keyRef: PLATFORM, provider: 'local', state: 'enabled', revoked: false });
  });

  it("a revocation in the org's own KMS fails closed too, once the cache bound is over (TTL 0 here)", async () => {
    const p = await newProcess(0);
    const { org, token } = await orgWithSecret(p);
    const keyRef = newGcpKey();
    await markMfaFresh(org.admin);
    await p.service.rewrapTo(as(org.admin, org.orgId), org.orgId, keyRef, stampAs(org.admin, org.orgId));
    server.revokeAccess(keyRef);
    try {
      const error = await errorOf(p.service.decryptFieldFor(as(org.admin, org.orgId), org.orgId, 'task-1', 'task.body', token));
      expect(error).toMatchObject({ code: 'KMS.KEY_REVOKED', reason: 'permission-denied' });
      expect(await p.service.status(as(org.admin, org.orgId), org.orgId)).toMatchObject({ state: 'permission-denied', revoked: false });
    } finally {
      server.grantAccess(keyRef);
    }
  });
});

describe('a revoke while Redis is unreachable', () => {
  it('still completes, evicts this process’s cache and reports the eviction it could not publish', async () => {
    const cache = new DataKeyCache({ ttlSeconds: 30 });
    const subscriber = await openRedis(redisUrl());
    // Bastion's connections queue commands while disconnected and never give up; nothing listens on port 1.
    const deadPublisher = new Redis('redis://127.0.0.1:1', { maxRetriesPerRequest: null, retryStrategy: () => 1000 });
    deadPublisher.on('error', () => undefined);
    const reported: string[] = [];
    const evictions = new OrgKeyEvictions({ publisher: deadPublisher, subscriber, prefix, cache, publishTimeoutMs: 200 });
    await evictions.start();
    started.push(evictions);
    const service = new OrgKeyService({ kms: router, cache, evictions, onError: (_error, what) => reported.push(what) });
    try {
      const { org, token } = await orgWithSecret({ service, cache, evictions, subscriber });
      await service.decryptFieldFor(as(org.admin, org.orgId), org.orgId, 'task-1', 'task.body', token);
      expect(cache.get(org.orgId, 1)).toBeDefined();
      await markMfaFresh(org.admin);
      expect(await service.revoke(as(org.admin, org.orgId), org.orgId, stampAs(org.admin, org.orgId))).toBe(true);
      expect(cache.get(org.orgId, 1)).toBeUndefined();
      expect(reported).toEqual(['publish a key eviction']);
      await expect(service.decryptFieldFor(as(org.admin, org.orgId), org.orgId, 'task-1', 'task.body', token)).rejects.toBeInstanceOf(
        OrgKeyRevokedError,
      );
    } finally {
      deadPublisher.disconnect();
    }
  });
});

describe('a process that loses its Redis subscription', () => {
  it('drops its whole cache and caches nothing until it is subscribed again', async () => {
    const p = await newProcess();
    const { org, token } = await orgWithSecret(p);
    await p.service.decryptFieldFor(as(org.admin, org.orgId), org.orgId, 'task-1', 'task.body', token);
    expect(p.cache.size).toBeGreaterThan(0);

    const lost = new Promise<void>((resolve) => p.subscriber.once('end', () => resolve()));
    p.subscriber.disconnect(); // the connection is gone, and stays gone until we reconnect below
    await lost;
    expect(p.evictions.live).toBe(false);
    expect(p.cache.size).toBe(0);
    // Deaf to evictions, it still serves reads — straight from the KMS, caching nothing.
    await p.service.decryptFieldFor(as(org.admin, org.orgId), org.orgId, 'task-1', 'task.body', token);
    expect(p.cache.size).toBe(0);

    await p.subscriber.connect();
    await eventually(() => p.evictions.live, 'the subscription to come back', 5000);
    await p.service.decryptFieldFor(as(org.admin, org.orgId), org.orgId, 'task-1', 'task.body', token);
    expect(p.cache.get(org.orgId, 1)).toBeDefined();
    // And it hears evictions again.
    await publisher.publish(p.evictions.channel, JSON.stringify({ orgId: org.orgId }));
    await eventually(() => p.cache.get(org.orgId, 1) === undefined, 'the eviction after resubscription');
  });
});
