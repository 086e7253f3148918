import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import type { Pool } from 'pg';
import { AuditKeyDirectory } from '../../libs/infra/src/audit';
import { Sealer } from '../../libs/infra/src/audit-sealer/sealer';
import { type TestApi, startTestApi } from '../support/api';
import { closePools, poolFor, type TestDatabase, workerDatabase } from '../support/database';
import { eventually } from '../support/events';
import { call, tokenFromMail } from '../support/http';
import { STRONG_PASSWORD } from '../support/identity';
import { runCli } from '../support/processes';
import { TestProjector } from '../support/projector';
import { dropPrefix } from '../support/redis';
import { redisUrl } from '../support/services';
import { awayFromStepEdge, oathtool } from '../support/totp';

/**
 * Crypto-shredding of personal data in events (DESIGN §3, issue #8 item 3): emails, display names, IP addresses and
 * user agents enter the immutable log only sealed with their person's key, an admin reads them through the audit
 * query, and erasing the person (deleting their keys) erases them — while the hash chain still verifies and the
 * person's events still project.
 */
let db: TestDatabase;
let api: TestApi;
let admin: Pool;
let appRole: Pool;
let sealer: Sealer;
let projector: TestProjector;
const redis: Redis[] = [];
const dir = mkdtempSync(join(tmpdir(), 'bastion-personal-'));
let startPosition = '0';

beforeAll(async () => {
  db = await workerDatabase();
  api = await startTestApi(db);
  admin = poolFor(db.adminUrl);
  appRole = poolFor(db.urlFor('bastion_app'));
  projector = new TestProjector(db);
  startPosition = String((await admin.query('select coalesce(max(position), 0) as p from events')).rows[0].p);
  const keys = await new AuditKeyDirectory(join(dir, 'keys')).loadOrGenerate(new Date());
  sealer = new Sealer(poolFor(db.urlFor('bastion_sealer')), keys, { checkpointEvery: 5, checkpointSeconds: 3600, verifySeconds: 0, redisPrefix: api.redisPrefix });
  await sealer.publishKeys();
  redis.push(new Redis(redisUrl()), new Redis(redisUrl()));
  await sealer.serveSignRequests(redis[0]!, redis[1]!);
  sealer.start();
});
afterAll(async () => {
  await sealer?.stop();
  redis.forEach((r) => r.disconnect());
  projector?.close();
  await api?.close();
  await closePools();
  if (api) await dropPrefix(api.redisPrefix);
});

interface Person {
  readonly userId: string;
  readonly email: string;
  readonly displayName: string;
  readonly userAgent: string;
  accessToken: string;
}

/** Sign-up, verification and sign-in, every request with this person's own user agent. */
async function person(label: string): Promise<Person> {
  const email = `${label}-${randomUUID()}@Example.com`;
  const displayName = `${label} ${randomUUID()}`;
  const userAgent = `PersonalDataProbe/${randomUUID()}`;
  const headers = { 'user-agent': userAgent };
  const signedUp = await call(api, 'POST', '/v1/auth/signup', { body: { email, password: STRONG_PASSWORD, displayName }, headers });
  expect(signedUp.status).toBe(201);
  const verified = await call(api, 'POST', '/v1/auth/email/verify', { body: { token: tokenFromMail(api.mailDir, email, 'Verification token') }, headers });
  expect(verified.status).toBe(204);
  const signedIn = await call(api, 'POST', '/v1/auth/password', { body: { email, password: STRONG_PASSWORD }, headers });
  expect(signedIn.status).toBe(200);
  return { userId: signedUp.body.id as string, email, displayName, userAgent, accessToken: signedIn.body.accessToken as string };
}

function as(p: Person, method: string, path: string, body?: unknown) {
  return call(api, method, path, { token: p.accessToken, headers: { 'user-agent': p.userAgent }, ...(body === undefined ? {} : { body }) });
}

async function mfaFresh(p: Person): Promise<void> {
  const started = await as(p, 'POST', '/v1/auth/mfa/totp/enroll');
  await awayFromStepEdge();
  expect((await as(p, 'POST', '/v1/auth/mfa/totp/confirm', { code: oathtool(started.body.secret as string) })).status).toBeLessThan(300);
}

async function eventsSinceStart() {
  return (await admin.query<{ type: string; data: string; metadata: Record<string, unknown> }>('select type, data::text as data, metadata from events where position > $1 order by position', [startPosition])).rows;
}

async function sealed(orgId: string): Promise<void> {
  await eventually(async () => {
    const { rows } = await admin.query(
      `select (select count(*) from events where org_id = $1)::int as stored, coalesce((select count from audit.chain_heads where chain = 'org:' || $1), 0)::int as sealed`,
      [orgId],
    );
    return rows[0].stored === rows[0].sealed ? true : undefined;
  }, 20000);
}

function cli(args: string[]): { status: number | null; out: string } {
  // The API's Redis and prefix: erase-person tells the running API (and nothing outside this run) to drop the keys.
  const env = { NODE_ENV: 'test', DATABASE_URL: db.adminUrl, BASTION_SERVER_SECRET_FILE: join(api.keysDir, 'server-secret'), REDIS_URL: redisUrl(), REDIS_PREFIX: api.redisPrefix };
  const run = runCli(env, ...args);
  return { status: run.status, out: run.stdout + run.stderr };
}

type AuditEntry = { type: string; actor: { id: string }; ip: string | null; ipErased: boolean; userAgent: string | null; userAgentErased: boolean };

describe('personal data in events (crypto-shredding)', () => {
  let alice: Person;
  let bob: Person;
  let orgId: string;
  const invitee = `invitee-${randomUUID()}@example.com`;
  const stranger = `stranger-${randomUUID()}@example.com`;

  beforeAll(async () => {
    alice = await person('alice');
    bob = await person('bob');
    const created = await as(alice, 'POST', '/v1/orgs', { name: 'Shredding' });
    expect(created.status).toBe(201);
    orgId = created.body.id as string;
    await mfaFresh(alice); // inviting an Admin is a step-up command
    const invited = await as(alice, 'POST', `/v1/orgs/${orgId}/invitations`, { email: bob.email, role: 'admin' });
    expect((await as(bob, 'POST', `/v1/invitations/${invited.body.token}/accept`)).status).toBe(200);
    // Bob's token was issued before he joined: a fresh sign-in carries the new membership.
    const again = await call(api, 'POST', '/v1/auth/password', { body: { email: bob.email, password: STRONG_PASSWORD }, headers: { 'user-agent': bob.userAgent } });
    bob.accessToken = again.body.accessToken as string;
    expect((await as(alice, 'POST', `/v1/orgs/${orgId}/invitations`, { email: invitee, role: 'viewer' })).status).toBe(201);
    // Failed sign-ins: a wrong password for a known account, and an email that has none.
    for (const email of [alice.email, stranger]) {
      const failed = await call(api, 'POST', '/v1/auth/password', { body: { email, password: 'not the password at all' }, headers: { 'user-agent': alice.userAgent } });
      expect(failed.status).toBe(401);
    }
    await api.settled(); // failed sign-ins are recorded after the answer
    await as(alice, 'POST', `/v1/orgs/${orgId}/tasks`, { title: 'by alice' });
    await as(bob, 'POST', `/v1/orgs/${orgId}/tasks`, { title: 'by bob' });
  });

  it('no event carries an email, a display name, an IP address or a user agent in plaintext — nor a bare hash of an email', async () => {
    const events = await eventsSinceStart();
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['UserSignedUp', 'EmailVerified', 'SessionStarted', 'MemberInvited', 'SignInFailed', 'OrganizationCreated']));
    const emails = [alice.email, bob.email, invitee, stranger];
    const forbidden = [
      ...emails.flatMap((e) => [e, e.toLowerCase()]),
      ...emails.map((e) => createHash('sha256').update(e.toLowerCase()).digest('hex')),
      alice.displayName,
      bob.displayName,
      alice.userAgent,
      bob.userAgent,
      '127.0.0.1',
    ];
    for (const event of events) {
      const text = `${event.data} ${JSON.stringify(event.metadata)}`;
      for (const value of forbidden) expect({ type: event.type, leaked: text.includes(value) ? value : null }).toEqual({ type: event.type, leaked: null });
      for (const field of ['ip', 'userAgent'] as const) {
        const stored = event.metadata[field];
        if (stored !== null) expect(String(stored)).toMatch(/^pd1:(e-)?[0-9a-f-]{36}:v1\.1\.[A-Za-z0-9_-]+$/);
      }
    }
    // The request data of the people's own commands is there, sealed: nothing was simply dropped.
    const signUps = events.filter((e) => e.type === 'UserSignedUp').map((e) => JSON.parse(e.data) as Record<string, string>);
    expect(signUps.find((d) => d.userId === alice.userId)).toEqual({ userId: alice.userId, email: expect.stringMatching(`^pd1:${alice.userId}:`), displayName: expect.stringMatching(/^pd1:/) });
    const sessions = events.filter((e) => e.type === 'SessionStarted' && (e.metadata.actor as { id: string }).id === alice.userId);
    expect(sessions.length).toBeGreaterThan(0);
    for (const s of sessions) expect(s.metadata.ip).toMatch(new RegExp(`^pd1:${alice.userId}:`));
    // A failed sign-in for an unknown email names it only by a random pseudonym, its IP sealed for that pseudonym.
    const unknown = events.find((e) => e.type === 'SignInFailed' && JSON.parse(e.data).userId === null)!;
    const pseudonym = JSON.parse(unknown.data).emailHash as string;
    expect(pseudonym).toMatch(/^e-[0-9a-f-]{36}$/);
    expect(unknown.metadata.ip).toMatch(new RegExp(`^pd1:${pseudonym}:`));
  });

  it('an admin reads them decrypted in the audit query, and the member list still shows names and emails', async () => {
    await sealed(orgId);
    const reply = await as(bob, 'GET', `/v1/orgs/${orgId}/audit?order=asc&limit=100`);
    expect(reply.status).toBe(200);
    const entries = reply.body.entries as AuditEntry[];
    const created = entries.find((e) => e.type === 'OrganizationCreated')!;
    expect(created).toMatchObject({ actor: { id: alice.userId }, ip: '127.0.0.1', ipErased: false, userAgent: alice.userAgent, userAgentErased: false });
    const bobs = entries.find((e) => e.type === 'TaskCreated' && e.actor.id === bob.userId)!;
    expect(bobs).toMatchObject({ ip: '127.0.0.1', userAgent: bob.userAgent, ipErased: false });
    await projector.catchUp();
    const members = (await as(bob, 'GET', `/v1/orgs/${orgId}/members`)).body.members as { userId: string; email: string | null; displayName: string | null }[];
    expect(members).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ userId: alice.userId, email: alice.email, displayName: alice.displayName }),
        expect.objectContaining({ userId: bob.userId, email: bob.email, displayName: bob.displayName }),
      ]),
    );
  });

  it('the application roles cannot erase anyone: no delete on the key table, no execute on the erase function', async () => {
    await expect(appRole.query('delete from authz.person_keys')).rejects.toMatchObject({ code: '42501' });
    await expect(appRole.query('select authz.erase_person($1, null)', [alice.userId])).rejects.toMatchObject({ code: '42501' });
    await expect(appRole.query('select subject, wrapped from authz.person_keys')).rejects.toMatchObject({ code: '42501' });
    expect((await admin.query('select count(*)::int as n from authz.person_keys where subject = $1', [alice.userId])).rows[0].n).toBe(1);
  });

  it('bastion erase-person deletes the person’s keys: the audit query shows their data as erased, the export still verifies, and their events still project', async () => {
    const erased = cli(['erase-person', alice.email]);
    expect(erased.out).toMatch(new RegExp(`erased: 2 key\\(s\\) of user ${alice.userId}`));
    expect(erased.out).toContain('running processes were told to drop the erased key(s) from memory');
    expect(erased.status).toBe(0);
    expect((await admin.query('select count(*)::int as n from authz.person_keys where subject = $1', [alice.userId])).rows[0].n).toBe(0);
    const recorded = (await admin.query("select data, metadata from events where type = 'PersonErased' and stream_id = $1", [`user-${alice.userId}`])).rows;
    expect(recorded).toHaveLength(1);
    expect(JSON.stringify(recorded[0])).not.toContain(alice.email.toLowerCase());

    const entries = (await as(bob, 'GET', `/v1/orgs/${orgId}/audit?order=asc&limit=100`)).body.entries as AuditEntry[];
    const byAlice = entries.filter((e) => e.actor.id === alice.userId);
    expect(byAlice.length).toBeGreaterThan(0);
    for (const e of byAlice) expect(e).toMatchObject({ ip: null, ipErased: true, userAgent: null, userAgentErased: true });
    expect(entries.find((e) => e.type === 'TaskCreated' && e.actor.id === bob.userId)).toMatchObject({ ip: '127.0.0.1', ipErased: false, userAgent: bob.userAgent });

    // The read models keep projecting from the same (sealed) events; the erased person's name and email are gone.
    await as(bob, 'POST', `/v1/orgs/${orgId}/tasks`, { title: 'after the erasure' });
    await projector.catchUp();
    const members = (await as(bob, 'GET', `/v1/orgs/${orgId}/members`)).body.members as { userId: string; email: string | null; displayName: string | null }[];
    expect(members.find((m) => m.userId === alice.userId)).toMatchObject({ email: null, displayName: null });
    expect(members.find((m) => m.userId === bob.userId)).toMatchObject({ email: bob.email, displayName: bob.displayName });

    // The chain covers ciphertexts as stored: deleting a key changes no byte of the log, so a fresh export verifies.
    await mfaFresh(bob);
    await sealed(orgId);
    writeFileSync(join(dir, 'audit-keys.json'), JSON.stringify((await call(api, 'GET', '/.well-known/audit-keys.json')).body));
    const response = await fetch(`${api.base}/v1/orgs/${orgId}/audit/export?format=jsonl`, { headers: { authorization: `Bearer ${bob.accessToken}` } });
    expect(response.status).toBe(200);
    const file = join(dir, 'after-erasure.jsonl');
    const text = await response.text();
    writeFileSync(file, text);
    expect(text).not.toContain(alice.userAgent);
    const verified = cli(['audit', 'verify', file, '--keys', join(dir, 'audit-keys.json')]);
    expect(verified.out).toMatch(/^verified \d+ events/);
    expect(verified.status).toBe(0);
  });

  it('an email without an account is erased by the email alone: its pseudonym then links to nobody', async () => {
    const pseudonym = (await admin.query("select data ->> 'emailHash' as p from events where type = 'SignInFailed' and data ->> 'userId' is null and position > $1 order by position desc limit 1", [startPosition])).rows[0].p as string;
    expect((await admin.query('select count(*)::int as n from authz.person_keys where subject = $1', [pseudonym])).rows[0].n).toBe(1);
    const erased = cli(['erase-person', stranger.toUpperCase()]);
    expect(erased.out).toMatch(/^erased: 1 key\(s\); recorded in person-/);
    expect((await admin.query('select count(*)::int as n from authz.person_keys where subject = $1', [pseudonym])).rows[0].n).toBe(0);
    const recorded = (await admin.query("select data from events where type = 'PersonErased' and data ->> 'userId' is null order by position desc limit 1")).rows[0].data;
    expect(recorded).toEqual({ userId: null, keysDeleted: 1 });
    // Erasing again is harmless, and says so.
    expect(cli(['erase-person', stranger]).out).toMatch(/^erased: 0 key\(s\)/);
  });
});
