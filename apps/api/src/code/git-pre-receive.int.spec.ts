/**
 * The pre-receive hook's endpoint (`POST /internal/git/pre-receive`) takes only the body the hook sends: anything
 * else is a 400 problem+json that redeems no push token and records nothing, and the hook (which lets a push through
 * only on `200 {"allowed": true}`) refuses the push. Real pushes through it are in test/e2e/code-governance.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import type { Pool } from 'pg';
import { type TestApi, startTestApi } from '../../../../test/support/api';
import { closePools, poolFor, type TestDatabase, workerDatabase } from '../../../../test/support/database';
import { call, decodeJwt } from '../../../../test/support/http';
import { newOrg, type OrgFixture } from '../../../../test/support/orgs';
import { dropPrefix } from '../../../../test/support/redis';
import { redisUrl } from '../../../../test/support/services';
import { mintPushToken } from './push-tokens';

const ZERO = '0'.repeat(40);
const SHA = 'a'.repeat(40);

let db: TestDatabase;
let api: TestApi;
let admin: Pool;
let redis: Redis;
let org: OrgFixture;
let repoId: string;

beforeAll(async () => {
  db = await workerDatabase();
  api = await startTestApi(db, { REPOS_ROOT: join(mkdtempSync(join(tmpdir(), 'bastion-pre-receive-')), 'repos') });
  admin = poolFor(db.adminUrl);
  redis = new Redis(redisUrl());
  org = await newOrg(api);
  const created = await call(api, 'POST', `/v1/orgs/${org.orgId}/repos`, { token: org.admin.accessToken, body: { name: 'hooked' } });
  expect(created.status).toBe(201);
  repoId = created.body.id as string;
});
afterAll(async () => {
  redis?.disconnect();
  await api?.close();
  await closePools();
  if (api) await dropPrefix(api.redisPrefix);
});

/** A push token as the git endpoint mints it for the org admin pushing to the repository. */
async function pushToken(): Promise<string> {
  const sessionId = decodeJwt(org.admin.accessToken).payload.sid as string;
  return mintPushToken(redis, api.redisPrefix, {
    principal: { type: 'human', id: org.admin.userId, sessionId, amr: ['pwd'], orgId: null },
    orgId: org.orgId,
    repoId,
  });
}

async function pushEvents(): Promise<string[]> {
  const { rows } = await admin.query<{ type: string }>('select type from events where stream_id = $1 order by revision', [`repo-${repoId}`]);
  return rows.map((r) => r.type);
}

async function tokensLeft(): Promise<number> {
  return (await redis.keys(`${api.redisPrefix}:git:push:*`)).length;
}

const update = (fields: Record<string, unknown> = {}) => ({ ref: 'refs/heads/feature', oldSha: ZERO, newSha: SHA, isFastForward: true, ...fields });

describe('the pre-receive endpoint refuses a malformed body with 400 and changes nothing', () => {
  it.each<[string, unknown]>([
    ['a ref that is not a string', { updates: [update({ ref: 42 })] }],
    ['a ref that is an object', { updates: [update({ ref: { startsWith: 'refs/heads/' } })] }],
    ['a sha that is not a string', { updates: [update({ newSha: ['a'] })] }],
    ['isFastForward that is not a boolean', { updates: [update({ isFastForward: 'yes' })] }],
    ['an update that is not an object', { updates: [null] }],
    ['updates that are not a list', { updates: 'refs/heads/main' }],
    ['no updates at all', {}],
    ['a field the hook never sends', { updates: [update({ force: true })] }],
    ['more updates than one push may carry, rather than deciding on the first 1000', { updates: [...Array.from({ length: 1000 }, (_, i) => update({ ref: `refs/heads/f${i}` })), update({ ref: 'refs/tags/v1' })] }],
  ])('%s', async (_name, body) => {
    const token = await pushToken();
    const before = { events: await pushEvents(), tokens: await tokensLeft() };
    const reply = await call(api, 'POST', '/internal/git/pre-receive', { token, body });
    expect(reply.status).toBe(400);
    expect(reply.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(reply.body).toMatchObject({ status: 400, type: 'urn:bastion:problem:validation' });
    expect(reply.body.allowed).toBeUndefined();
    expect(await pushEvents()).toEqual(before.events);
    expect(await tokensLeft()).toBe(before.tokens); // the token was not redeemed
  });

  it('the body the hook sends still gets its decision, recorded as an event', async () => {
    const before = await pushEvents();
    const reply = await call(api, 'POST', '/internal/git/pre-receive', { token: await pushToken(), body: { updates: [update()] } });
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({ allowed: true, message: '' });
    expect(await pushEvents()).toEqual([...before, 'PushAccepted']);
  });

  it('a well-typed but malformed update is the push policy\'s to refuse, and is recorded', async () => {
    const before = await pushEvents();
    const reply = await call(api, 'POST', '/internal/git/pre-receive', { token: await pushToken(), body: { updates: [update({ oldSha: 'not-a-sha' })] } });
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ allowed: false, message: expect.stringContaining('the update is malformed') });
    expect(await pushEvents()).toEqual([...before, 'PushRefused']);
  });
});
