/**
 * The full journey through the real API, then two checks over everything it left behind: every event carries the
 * complete metadata of DESIGN §3, and no secret the journey used appears anywhere in the database or the logs.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { KNOWN_EVENT_TYPES } from '../../libs/domain/src';
import { type TestApi, startTestApi } from '../support/api';
import { closePools, poolFor, type TestDatabase, workerDatabase } from '../support/database';
import { requestDataOf } from '../support/personal-data';
import { call, refreshCookie, tokenFromMail } from '../support/http';
import { STRONG_PASSWORD } from '../support/identity';
import { TestProjector } from '../support/projector';
import { dropPrefix } from '../support/redis';
import { dumpPrefix } from '../support/redis-dump';
import { awayFromStepEdge, oathtool } from '../support/totp';

let db: TestDatabase;
let api: TestApi;
let admin: Pool;
const secrets: Record<string, string> = {};

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

const METADATA_KEYS = ['orgId', 'actor', 'authMethod', 'sessionId', 'correlationId', 'causationId', 'requestId', 'ip', 'userAgent', 'occurredAt', 'schemaVersion'];

describe('the full journey', () => {
  let orgId: string;
  const userAgent = `journey-test/${randomUUID()}`;

  it('runs: sign-up, verification, sign-in, refresh, an org, a team, an agent, tasks, MFA, step-up, a role change, a refresh-token reuse, logout', async () => {
    const email = `journey-${randomUUID()}@example.com`;
    const password = `${STRONG_PASSWORD} ${randomUUID().slice(0, 8)}`;
    secrets.password = password;
    const headers = { 'user-agent': userAgent };
    expect((await call(api, 'POST', '/v1/auth/signup', { body: { email, password, displayName: 'Journey' }, headers })).status).toBe(201);
    secrets.verifyToken = tokenFromMail(api.mailDir, email, 'Verification token');
    expect((await call(api, 'POST', '/v1/auth/email/verify', { body: { token: secrets.verifyToken }, headers })).status).toBe(204);
    const signedIn = await call(api, 'POST', '/v1/auth/password', { body: { email, password }, headers });
    secrets.accessToken = signedIn.body.accessToken as string;
    secrets.refreshToken = refreshCookie(signedIn)!.split('=')[1]!;
    const refreshed = await call(api, 'POST', '/v1/auth/refresh', { cookie: refreshCookie(signedIn)!, headers });
    const token = refreshed.body.accessToken as string;
    const cookie = refreshCookie(refreshed)!;
    orgId = (await call(api, 'POST', '/v1/orgs', { token, body: { name: 'Journey Inc' }, headers })).body.id as string;

    const colleagueEmail = `colleague-${randomUUID()}@example.com`;
    await call(api, 'POST', '/v1/auth/signup', { body: { email: colleagueEmail, password, displayName: 'Colleague' }, headers });
    await call(api, 'POST', '/v1/auth/email/verify', { body: { token: tokenFromMail(api.mailDir, colleagueEmail, 'Verification token') }, headers });
    const colleague = await call(api, 'POST', '/v1/auth/password', { body: { email: colleagueEmail, password }, headers });
    const invitation = await call(api, 'POST', `/v1/orgs/${orgId}/invitations`, { token, body: { email: colleagueEmail, role: 'member' }, headers });
    secrets.invitationToken = invitation.body.token as string;
    const accepted = await call(api, 'POST', `/v1/invitations/${secrets.invitationToken}/accept`, { token: colleague.body.accessToken as string, headers });
    expect(accepted.status).toBe(200);

    const agentId = (await call(api, 'POST', `/v1/orgs/${orgId}/agents`, { token, body: { name: 'builder' }, headers })).body.id as string;
    const key = await call(api, 'POST', `/v1/orgs/${orgId}/agents/${agentId}/keys`, { token, body: {}, headers });
    secrets.agentKey = key.body.key as string;
    const agentToken = (await call(api, 'POST', '/v1/auth/agent-token', { body: { apiKey: secrets.agentKey }, headers })).body.accessToken as string;
    secrets.agentToken = agentToken;

    const projector = new TestProjector(db);
    await projector.catchUp();
    const taskId = (await call(api, 'POST', `/v1/orgs/${orgId}/tasks`, { token, body: { title: 'Build it', description: 'the plan' }, headers })).body.id as string;
    await call(api, 'PATCH', `/v1/orgs/${orgId}/tasks/${taskId}`, { token, body: { title: 'Build it well' }, headers });
    await call(api, 'POST', `/v1/orgs/${orgId}/tasks/${taskId}/assign`, { token, body: { assignee: { type: 'agent', id: agentId } }, headers });
    await projector.catchUp();
    expect((await call(api, 'POST', `/v1/orgs/${orgId}/tasks/${taskId}/move`, { token: agentToken, body: { to: 'in_progress', position: 0 }, headers })).status).toBe(204);

    const enroll = await call(api, 'POST', '/v1/auth/mfa/totp/enroll', { token, headers });
    secrets.totpSecret = enroll.body.secret as string;
    await awayFromStepEdge();
    secrets.totpCode = oathtool(secrets.totpSecret);
    const confirmed = await call(api, 'POST', '/v1/auth/mfa/totp/confirm', { token, body: { code: secrets.totpCode }, headers });
    secrets.recoveryCode = (confirmed.body.recoveryCodes as string[])[0]!;
    secrets.stepUpCode = oathtool(secrets.totpSecret, 30);
    expect((await call(api, 'POST', '/v1/auth/mfa/step-up', { token, body: { code: secrets.stepUpCode }, headers })).status).toBe(204);
    const colleagueId = (accepted.body.orgId && (await admin.query('select id from authz.users where email_normalized = $1', [colleagueEmail])).rows[0].id) as string;
    expect((await call(api, 'PATCH', `/v1/orgs/${orgId}/members/${colleagueId}`, { token, body: { role: 'viewer' }, headers })).status).toBe(204);
    await call(api, 'POST', `/v1/orgs/${orgId}/tasks/${taskId}/cancel`, { token, body: { reason: 'done differently' }, headers });
    await call(api, 'POST', '/v1/auth/password', { body: { email, password: 'not the password at all' }, headers });
    await api.settled(); // the failure is recorded after the answer
    // The colleague's first refresh token, presented after two rotations: a reuse, which revokes their session.
    const colleagueFirst = refreshCookie(colleague)!;
    const colleagueNext = refreshCookie(await call(api, 'POST', '/v1/auth/refresh', { cookie: colleagueFirst, headers }))!;
    expect((await call(api, 'POST', '/v1/auth/refresh', { cookie: colleagueNext, headers })).status).toBe(200);
    expect((await call(api, 'POST', '/v1/auth/refresh', { cookie: colleagueFirst, headers })).status).toBe(401);
    expect((await call(api, 'POST', '/v1/auth/logout', { cookie, headers })).status).toBe(204);
  });

  it('every event carries the complete metadata; events a request caused carry its id, IP and user agent', async () => {
    // IP addresses and user agents are stored sealed per person (pd1:…): open them to find the journey's events.
    const { rows: candidates } = await admin.query<{ type: string; metadata: Record<string, unknown> }>(
      "select type, metadata from events where metadata ->> 'userAgent' like 'pd1:%' or org_id = $1",
      [orgId],
    );
    const rows: { type: string; metadata: Record<string, unknown>; opened: { ip: string | null; userAgent: string | null } }[] = [];
    for (const row of candidates) {
      // Other suites sharing this worker's database sealed theirs under their own platform key: not ours to open.
      const opened = await requestDataOf(api, row.metadata).catch((error: unknown) => {
        if (row.metadata.orgId === orgId) throw error;
        return null;
      });
      if (opened === null) continue;
      if (row.metadata.orgId === orgId || opened.userAgent === userAgent) rows.push({ ...row, opened });
    }
    const seen = new Set(rows.map((r) => r.type));
    expect(seen.size).toBeGreaterThanOrEqual(18);
    // The public routes that end a session load its owner's key themselves: their events are not left out.
    expect([...seen]).toEqual(expect.arrayContaining(['SessionStarted', 'SessionRevoked', 'RefreshTokenReuseDetected']));
    for (const { type, metadata, opened } of rows) {
      expect([type, METADATA_KEYS.filter((k) => !(k in metadata))]).toEqual([type, []]);
      const actor = metadata.actor as { type: string; id: string };
      expect(['human', 'agent', 'system']).toContain(actor.type);
      expect(actor.id).toEqual(expect.any(String));
      expect(metadata.schemaVersion).toBe(1);
      expect(new Date(metadata.occurredAt as string).toISOString()).toBe(metadata.occurredAt);
      // A reuse is recorded by the system, with the presenting request's data sealed for the session's owner.
      if (actor.type !== 'system' || type === 'RefreshTokenReuseDetected') {
        expect([type, metadata.requestId, opened.userAgent]).toEqual([type, expect.any(String), userAgent]);
        expect([type, opened.ip]).toEqual([type, expect.stringMatching(/127\.0\.0\.1/)]);
      }
    }
    for (const type of seen) expect(KNOWN_EVENT_TYPES).toContain(type);
  });

  it('no secret the journey used appears in the database, the event store or the logs', async () => {
    const dump = execFileSync('pg_dump', ['--data-only', db.adminUrl], { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 });
    const logs = api.logs.join('\n');
    for (const [name, value] of Object.entries(secrets)) {
      expect([name, dump.includes(value)]).toEqual([name, false]);
      expect([name, logs.includes(value)]).toEqual([name, false]);
    }
    // The agent key's secret part and the recovery code are stored only as keyed hashes.
    expect(dump).not.toContain(secrets.agentKey!.slice('bst_ak_'.length + 13));
    expect(dump).not.toContain(secrets.recoveryCode!.replace(/-/g, ''));
  });

  it('no secret the journey used appears in Redis: keys, strings, hashes, lists, sets, streams or job data', async () => {
    const redis = await dumpPrefix(api.redisPrefix);
    expect(redis.keys.length).toBeGreaterThan(0);
    const text = [...redis.keys, ...redis.values].join('\n');
    for (const [name, value] of Object.entries(secrets)) {
      // Also as it would appear inside a JSON value (BullMQ job data, cached grants).
      expect([name, text.includes(value), text.includes(JSON.stringify(value).slice(1, -1))]).toEqual([name, false, false]);
    }
    expect(text).not.toContain(secrets.agentKey!.slice('bst_ak_'.length + 13));
    expect(text).not.toContain(secrets.recoveryCode!.replace(/-/g, ''));
  });
});
