import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Pool } from 'pg';
import { FernetKey, generateFernetKey, MultiFernet } from '../../libs/infra/src/crypto/fernet';
import { PostgresEventStore } from '../../libs/infra/src/event-store/postgres/postgres-event-store.adapter';
import { TotpSecretBox } from '../../libs/infra/src/mfa/totp-secret-box';
import { type TestApi, startTestApi } from '../support/api';
import { closePools, isolatedDatabase, poolFor, type TestDatabase, workerDatabase } from '../support/database';
import { call, decodeJwt } from '../support/http';
import { newUser, type SignedIn, STRONG_PASSWORD } from '../support/identity';
import { addMember, newOrg } from '../support/orgs';
import { runCli } from '../support/processes';
import { dropPrefix } from '../support/redis';
import { awayFromStepEdge, oathtool } from '../support/totp';

let db: TestDatabase;
let api: TestApi;
let admin: Pool;
let events: PostgresEventStore;

beforeAll(async () => {
  db = await workerDatabase();
  api = await startTestApi(db);
  admin = poolFor(db.adminUrl);
  events = new PostgresEventStore(admin);
});
afterAll(async () => {
  await api?.close();
  await closePools();
  if (api) await dropPrefix(api.redisPrefix);
});

async function enroll(user: SignedIn, offsetSeconds = 0, on: TestApi = api): Promise<{ secret: string; recoveryCodes: string[]; status: number }> {
  const started = await call(on, 'POST', '/v1/auth/mfa/totp/enroll', { token: user.accessToken });
  expect(started.status).toBe(201);
  const secret = started.body.secret as string;
  await awayFromStepEdge();
  const confirmed = await call(on, 'POST', '/v1/auth/mfa/totp/confirm', { token: user.accessToken, body: { code: oathtool(secret, offsetSeconds) } });
  return { secret, recoveryCodes: (confirmed.body.recoveryCodes as string[]) ?? [], status: confirmed.status };
}

describe('TOTP enrolment', () => {
  it('gives the secret, an otpauth URI (issuer Bastion, account = email) and a QR code; an oathtool code confirms it; ten recovery codes', async () => {
    const user = await newUser(api);
    const started = await call(api, 'POST', '/v1/auth/mfa/totp/enroll', { token: user.accessToken });
    expect(started.status).toBe(201);
    expect(started.body.otpauthUri).toMatch(new RegExp(`^otpauth://totp/Bastion:${encodeURIComponent(user.email).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\?`));
    expect(started.body.otpauthUri).toMatch(/issuer=Bastion/);
    expect(started.body.qrCode).toMatch(/^data:image\/png;base64,/);
    await awayFromStepEdge();
    const confirmed = await call(api, 'POST', '/v1/auth/mfa/totp/confirm', { token: user.accessToken, body: { code: oathtool(started.body.secret as string) } });
    expect(confirmed.status).toBe(200);
    const codes = confirmed.body.recoveryCodes as string[];
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    const types = (await events.readStream(`user-${user.userId}`)).map((e) => e.type);
    expect(types).toContain('TotpEnrolled');
  });

  it.each([
    ['one step behind', -30, 200],
    ['one step ahead', 30, 200],
    ['two steps behind', -60, 401],
    ['two steps ahead', 60, 401],
  ])('a code %s is %s', async (_name, offset, status) => {
    const user = await newUser(api);
    expect((await enroll(user, offset)).status).toBe(status);
  });

  it('the secret is stored only as a Fernet token, never in the event store, and a token copied to another user does not open', async () => {
    const alice = await newUser(api);
    const { secret } = await enroll(alice);
    const dump = execFileSync('pg_dump', ['--data-only', db.adminUrl], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    expect(dump).not.toContain(secret);
    const { rows } = await admin.query('select secret_token from authz.totp_credentials where user_id = $1', [alice.userId]);
    expect(rows[0].secret_token).toMatch(/^gAAAAA/);
    expect(JSON.stringify(await events.readStream(`user-${alice.userId}`))).not.toContain(secret);

    const mallory = await newUser(api);
    await enroll(mallory);
    await admin.query('update authz.totp_credentials set secret_token = $1 where user_id = $2', [rows[0].secret_token, mallory.userId]);
    await awayFromStepEdge();
    const stepUp = await call(api, 'POST', '/v1/auth/mfa/step-up', { token: mallory.accessToken, body: { code: oathtool(secret, 30) } });
    expect(stepUp.status).toBe(401);
  });
});

describe('sign-in with MFA', () => {
  it('the password earns a challenge (useless as an access token); a wrong code keeps it alive; the right one signs in with amr pwd+otp', async () => {
    const user = await newUser(api);
    const { secret } = await enroll(user);
    const first = await call(api, 'POST', '/v1/auth/password', { body: { email: user.email, password: STRONG_PASSWORD } });
    expect(first.status).toBe(200);
    expect(first.body.accessToken).toBeUndefined();
    expect(first.cookies).toEqual([]);
    expect((await call(api, 'GET', '/v1/auth/sessions', { token: first.body.challenge as string })).status).toBe(401);
    const wrong = await call(api, 'POST', '/v1/auth/mfa/verify', { body: { challenge: first.body.challenge, code: '000000' } });
    expect(wrong.status).toBe(401);
    await awayFromStepEdge();
    const right = await call(api, 'POST', '/v1/auth/mfa/verify', { body: { challenge: first.body.challenge, code: oathtool(secret, 30) } });
    expect(right.status).toBe(200);
    expect(decodeJwt(right.body.accessToken as string).payload.amr).toEqual(['pwd', 'otp']);
    const { rows } = await admin.query('select mfa_at from authz.sessions where id = $1', [decodeJwt(right.body.accessToken as string).payload.sid]);
    expect(rows[0].mfa_at).not.toBeNull();
    expect(right.cookies.some((c) => c.startsWith('__Host-bastion_rt='))).toBe(true);
  });

  it('MFA verify with a foreign Origin or no Origin is refused (CSRF) and changes nothing: no session, no failure, the code still unused', async () => {
    const user = await newUser(api);
    const { secret } = await enroll(user);
    const challenge = (await call(api, 'POST', '/v1/auth/password', { body: { email: user.email, password: STRONG_PASSWORD } })).body.challenge;
    const before = (await events.readStream(`user-${user.userId}`)).map((e) => e.type);
    const sessions = async () => (await admin.query('select count(*)::int as n from authz.sessions where principal_id = $1', [user.userId])).rows[0].n as number;
    const sessionsBefore = await sessions();
    await awayFromStepEdge();
    const code = oathtool(secret, 30);
    const refusals = [
      await call(api, 'POST', '/v1/auth/mfa/verify', { body: { challenge, code }, origin: 'https://evil.example' }),
      await call(api, 'POST', '/v1/auth/mfa/verify', { body: { challenge, code }, origin: null }),
    ];
    expect(refusals.map((r) => r.status)).toEqual([403, 403]);
    expect(refusals.map((r) => r.body.type)).toEqual(Array(2).fill('urn:bastion:problem:origin-not-allowed'));
    expect(refusals.flatMap((r) => r.cookies)).toEqual([]);
    expect(await sessions()).toBe(sessionsBefore);
    expect((await events.readStream(`user-${user.userId}`)).map((e) => e.type)).toEqual(before);
    // The refused requests consumed neither the time step nor an attempt: the same code signs in from the allowed Origin.
    expect((await call(api, 'POST', '/v1/auth/mfa/verify', { body: { challenge, code } })).status).toBe(200);
  });

  it('an access token is no challenge', async () => {
    const user = await newUser(api);
    expect((await call(api, 'POST', '/v1/auth/mfa/verify', { body: { challenge: user.accessToken, code: '123456' } })).status).toBe(401);
  });

  it('the same code is refused the second time, even when both are sent at once', async () => {
    const user = await newUser(api);
    const { secret } = await enroll(user);
    const challenges = await Promise.all(
      [0, 1].map(async () => (await call(api, 'POST', '/v1/auth/password', { body: { email: user.email, password: STRONG_PASSWORD } })).body.challenge),
    );
    await awayFromStepEdge();
    const code = oathtool(secret, 30);
    const results = await Promise.all(challenges.map((challenge) => call(api, 'POST', '/v1/auth/mfa/verify', { body: { challenge, code } })));
    expect(results.map((r) => r.status).sort()).toEqual([200, 401]);
    const again = await call(api, 'POST', '/v1/auth/mfa/verify', { body: { challenge: challenges[0], code } });
    expect(again.status).toBe(401);
  });

  it('a recovery code signs in once, and its use is recorded', async () => {
    const user = await newUser(api);
    const { recoveryCodes } = await enroll(user);
    const challenge = (await call(api, 'POST', '/v1/auth/password', { body: { email: user.email, password: STRONG_PASSWORD } })).body.challenge;
    expect((await call(api, 'POST', '/v1/auth/mfa/verify', { body: { challenge, recoveryCode: recoveryCodes[0]!.toLowerCase() } })).status).toBe(200);
    expect((await call(api, 'POST', '/v1/auth/mfa/verify', { body: { challenge, recoveryCode: recoveryCodes[0] } })).status).toBe(401);
    expect((await events.readStream(`user-${user.userId}`)).map((e) => e.type)).toContain('RecoveryCodeUsed');
  });

  it('locks out after repeated failures, and records the failures and the lockout', async () => {
    const user = await newUser(api);
    await enroll(user);
    const challenge = (await call(api, 'POST', '/v1/auth/password', { body: { email: user.email, password: STRONG_PASSWORD } })).body.challenge;
    for (let i = 0; i < 5; i += 1) expect((await call(api, 'POST', '/v1/auth/mfa/verify', { body: { challenge, code: '000000' } })).status).toBe(401);
    expect((await call(api, 'POST', '/v1/auth/mfa/verify', { body: { challenge, code: '000000' } })).status).toBe(429);
    const types = (await events.readStream(`user-${user.userId}`)).map((e) => e.type);
    expect(types.filter((t) => t === 'MfaVerificationFailed')).toHaveLength(5);
    expect(types).toContain('MfaLockedOut');
  });
});

describe('step-up', () => {
  it('a session that verified MFA 16 minutes ago is refused a sensitive command even with a freshly refreshed token, until it steps up', async () => {
    const org = await newOrg(api);
    const { secret } = await enroll(org.admin); // confirming verified MFA on this session (step T used)
    const member = await addMember(api, org, 'member');
    // The clock, injected: this session's last MFA verification was 16 minutes ago.
    await admin.query("update authz.sessions set mfa_at = now() - interval '16 minutes' where id = $1", [decodeJwt(org.admin.accessToken).payload.sid]);
    const refreshed = await call(api, 'POST', '/v1/auth/refresh', { cookie: org.admin.cookie });
    expect(refreshed.status).toBe(200);
    expect(decodeJwt(refreshed.body.accessToken as string).payload.amr).toEqual(['pwd', 'otp']); // the claim says otp…
    const refused = await call(api, 'PATCH', `/v1/orgs/${org.orgId}/members/${member.userId}`, { token: refreshed.body.accessToken as string, body: { role: 'viewer' } });
    expect(refused.status).toBe(403); // …but the session row decides
    expect(refused.body.type).toBe('urn:bastion:problem:step-up-required');
    expect((await call(api, 'POST', '/v1/auth/mfa/step-up', { token: refreshed.body.accessToken as string, body: { code: oathtool(secret, 30) } })).status).toBe(204);
    expect((await call(api, 'PATCH', `/v1/orgs/${org.orgId}/members/${member.userId}`, { token: refreshed.body.accessToken as string, body: { role: 'viewer' } })).status).toBe(204);
  });
});

describe('org-wide enforcement', () => {
  it('after the toggle, an un-enrolled member reaches only enrolment; after enrolling, everything their role allows', async () => {
    const org = await newOrg(api);
    const { secret } = await enroll(org.admin); // confirming marks this session MFA-fresh
    const member = await addMember(api, org, 'member');
    const toggled = await call(api, 'PUT', `/v1/orgs/${org.orgId}/security`, { token: org.admin.accessToken, body: { mfaRequired: true } });
    expect(toggled.status).toBe(204);
    for (const [method, path] of [['GET', `/v1/orgs/${org.orgId}/canvas`], ['GET', `/v1/orgs/${org.orgId}/members`], ['POST', `/v1/orgs/${org.orgId}/tasks`]] as const) {
      const reply = await call(api, method, path, { token: member.accessToken, body: method === 'POST' ? { title: 'x' } : undefined });
      expect([path, reply.status, reply.body.type]).toEqual([path, 403, 'urn:bastion:problem:mfa-enrolment-required']);
    }
    await enroll(member);
    expect((await call(api, 'GET', `/v1/orgs/${org.orgId}/canvas`, { token: member.accessToken })).status).toBe(200);
    expect((await call(api, 'POST', `/v1/orgs/${org.orgId}/tasks`, { token: member.accessToken, body: { title: 'x' } })).status).toBe(201);
    // With TOTP, the password alone no longer gives a session at all: only a challenge.
    const passwordOnly = await call(api, 'POST', '/v1/auth/password', { body: { email: member.email, password: STRONG_PASSWORD } });
    expect(passwordOnly.body.challenge).toEqual(expect.any(String));
    expect(passwordOnly.body.accessToken).toBeUndefined();
    expect(secret).toEqual(expect.any(String));
  });

  it('toggling needs step-up; a member cannot toggle', async () => {
    const org = await newOrg(api);
    const member = await addMember(api, org, 'member');
    expect((await call(api, 'PUT', `/v1/orgs/${org.orgId}/security`, { token: member.accessToken, body: { mfaRequired: true } })).status).toBe(403);
    const noStepUp = await call(api, 'PUT', `/v1/orgs/${org.orgId}/security`, { token: org.admin.accessToken, body: { mfaRequired: true } });
    expect(noStepUp.body.type).toBe('urn:bastion:problem:step-up-required');
  });

  it('an admin resets a member’s MFA (step-up, audited); the member’s sessions end', async () => {
    const org = await newOrg(api);
    await enroll(org.admin);
    const member = await addMember(api, org, 'member');
    await enroll(member);
    expect((await call(api, 'POST', `/v1/orgs/${org.orgId}/members/${member.userId}/mfa/reset`, { token: org.admin.accessToken })).status).toBe(204);
    expect((await call(api, 'GET', '/v1/auth/sessions', { token: member.accessToken })).status).toBe(401);
    expect((await events.readStream(`org-${org.orgId}`)).map((e) => e.type)).toContain('MfaReset');
    expect((await admin.query('select 1 from authz.totp_credentials where user_id = $1', [member.userId])).rowCount).toBe(0);
  });
});

describe('bastion keys rotate-fernet', () => {
  // Its own database: the command rotates every stored secret, and other suites sharing the worker's database enrol
  // under their own Fernet keys.
  let own: TestDatabase;
  let ownApi: TestApi;
  let ownAdmin: Pool;
  beforeAll(async () => {
    own = await isolatedDatabase();
    ownApi = await startTestApi(own);
    ownAdmin = poolFor(own.adminUrl);
  });
  afterAll(async () => {
    await ownApi?.close();
    if (ownApi) await dropPrefix(ownApi.redisPrefix);
  });

  const currentKey = () => readFileSync(join(ownApi.keysDir, 'fernet'), 'utf8').trim();
  const storedToken = async (userId: string) =>
    (await ownAdmin.query<{ secret_token: string }>('select secret_token from authz.totp_credentials where user_id = $1', [userId])).rows[0]!.secret_token;
  /** FERNET_KEYS as the operator keeps it: each rotation puts a new key first and keeps the older ones. */
  let operatorKeys: string[] = [];
  const opens = (key: string, userId: string, token: string) => new TotpSecretBox(new MultiFernet([FernetKey.parse(key)])).open(userId, token);

  it('re-encrypts stored secrets under the new first key; they still open, and the old key alone no longer does', async () => {
    const user = await newUser(ownApi);
    const { secret } = await enroll(user, 0, ownApi);
    const oldKey = currentKey();
    const newKey = generateFernetKey();
    operatorKeys = [newKey, oldKey];
    const run = runCli({ DATABASE_URL: own.adminUrl, FERNET_KEYS: operatorKeys.join(',') }, 'keys', 'rotate-fernet');
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^re-encrypted 1 TOTP secret\(s\)/);
    const token = await storedToken(user.userId);
    expect(opens(newKey, user.userId, token)).toBe(secret);
    expect(opens(oldKey, user.userId, token)).toBeNull();
  });

  it('a secret that no listed key opens is left unchanged and named, the rest are rotated, and the command fails', async () => {
    const kept = await newUser(ownApi);
    const { secret } = await enroll(kept, 0, ownApi);
    const orphan = await newUser(ownApi);
    await enroll(orphan, 0, ownApi);
    const droppedKey = generateFernetKey();
    const orphanToken = new TotpSecretBox(new MultiFernet([FernetKey.parse(droppedKey)])).seal(orphan.userId, 'JBSWY3DPEHPK3PXP');
    await ownAdmin.query('update authz.totp_credentials set secret_token = $1 where user_id = $2', [orphanToken, orphan.userId]);
    const existing = (await ownAdmin.query('select 1 from authz.totp_credentials')).rowCount!;
    // The operator puts a new key first and keeps every key in use (the API's and earlier rotations'), but not the dropped one.
    const newKey = generateFernetKey();
    const keys = [newKey, ...new Set([...operatorKeys, currentKey()])];
    const run = runCli({ DATABASE_URL: own.adminUrl, FERNET_KEYS: keys.join(',') }, 'keys', 'rotate-fernet');
    expect(run.status).toBe(1);
    expect(run.stdout).toContain(`re-encrypted ${existing - 1} TOTP secret(s)`);
    expect(run.stderr).toContain(orphan.userId);
    expect(run.stderr).not.toContain(kept.userId);
    expect(await storedToken(orphan.userId)).toBe(orphanToken);
    expect(opens(newKey, kept.userId, await storedToken(kept.userId))).toBe(secret);
  });
});
