import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, type Pool } from 'pg';
import { openPersonal } from '@bastion/infra/crypto/person-keys';
import { PostgresEventStore } from '@bastion/infra/event-store/postgres/postgres-event-store.adapter';
import type { KmsRouter } from '@bastion/infra/crypto/org-keys';
import { personKeyWrappingAad } from '@bastion/infra/crypto/person-keys';
import { KMS_ROUTER } from '../security/security.tokens';
import { parseAgentKey } from '@bastion/infra/identity/agent-key';
import { parseEml } from '@bastion/infra/mail/parse-eml';
import { AfterResponse } from '../http/after-response';
import { MAIL_SENDER, type MailSender, PASSWORD_HASHING, type PasswordHashing } from './identity.ports';
import { PersonalData } from './personal-data/personal-data';
import { type TestApi, startTestApi } from '../../../../test/support/api';
import { closePools, poolFor, type TestDatabase, workerDatabase } from '../../../../test/support/database';
import { call, decodeJwt, refreshCookie, tokenFromMail } from '../../../../test/support/http';
import { newUser, signIn, signUp, STRONG_PASSWORD } from '../../../../test/support/identity';
import { eventually } from '../../../../test/support/events';
import { requestDataOf } from '../../../../test/support/personal-data';
import { dropPrefix } from '../../../../test/support/redis';


let db: TestDatabase;
let api: TestApi;
let events: PostgresEventStore;
let admin: Pool;

beforeAll(async () => {
  db = await workerDatabase();
  api = await startTestApi(db, { REFRESH_GRACE_SECONDS: '1' });
  admin = poolFor(db.adminUrl);
  events = new PostgresEventStore(admin);
});
afterAll(async () => {
  await api?.close();
  await closePools();
  if (api) await dropPrefix(api.redisPrefix);
});

const typesOf = async (stream: string) => (await events.readStream(stream)).map((e) => e.type);
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The mails an API's file outbox holds for an address (compared case-insensitively), oldest first. */
function mailsTo(on: TestApi, to: string): { subject: string; text: string }[] {
  let names: string[];
  try {
    names = readdirSync(on.mailDir);
  } catch {
    return [];
  }
  return names
    .filter((name) => name.endsWith('.eml'))
    .sort()
    .map((name) => parseEml(readFileSync(join(on.mailDir, name))))
    .filter((mail) => mail.to.toLowerCase() === to.toLowerCase());
}
/** Waits for the work an API does after its answers (a reset request's lookup, token, event and mail). */
const settled = (on: TestApi): Promise<void> => on.settled();
const resetMailsTo = (on: TestApi, to: string) => mailsTo(on, to).filter((m) => m.subject === 'Reset your Bastion password');
const resetTokensOf = async (userId: string): Promise<number> =>
  (await admin.query("select count(*)::int as n from authz.email_tokens where user_id = $1 and purpose = 'reset_password'", [userId])).rows[0].n;

/** The IP address an event recorded, opened with its person's key (it is stored only sealed). */
async function recordedIp(userId: string, metadata: { ip: string | null; requestId: string | null }): Promise<string> {
  const personal = api.app.get(PersonalData, { strict: false });
  const key = (await personal.keys.keysOf(personal.transact, [userId])).get(userId)!;
  return openPersonal(key, metadata.ip!, { record: metadata.requestId!, field: 'request.ip' });
}

/**
 * Sends two requests while holding the work each hands over for after its answer, to look at what had been done
 * when they answered; `held` releases that work.
 */
async function answeredWhileHeld<T>(send: () => Promise<[T, T]>): Promise<{ replies: [T, T]; held: (() => void)[] }> {
  const after = api.app.get(AfterResponse, { strict: false });
  const run = after.run.bind(after);
  const held: (() => void)[] = [];
  const hold = jest.spyOn(after, 'run').mockImplementation((res, about, work) => void held.push(() => run(res, about, work)));
  try {
    return { replies: await send(), held };
  } finally {
    hold.mockRestore();
  }
}

describe('sign-up and email verification', () => {
  it('signs up, emails a single-use link, and verifies the address once', async () => {
    const email = `ada-${randomUUID()}@example.com`;
    const reply = await call(api, 'POST', '/v1/auth/signup', { body: { email, password: STRONG_PASSWORD, displayName: 'Ada' } });
    expect(reply.status).toBe(201);
    const userId = reply.body.id as string;
    const token = tokenFromMail(api.mailDir, email, 'Verification token');
    expect((await call(api, 'POST', '/v1/auth/email/verify', { body: { token } })).status).toBe(204);
    const again = await call(api, 'POST', '/v1/auth/email/verify', { body: { token } });
    expect(again.status).toBe(400);
    expect(again.body.type).toBe('urn:bastion:problem:invalid-token');
    expect(await typesOf(`user-${userId}`)).toEqual(['UserSignedUp', 'EmailVerified']);
  });

  it('stores the password only as an argon2id hash (m=19456, t=2, p=1), and never in an event', async () => {
    const { userId } = await signUp(api);
    const { rows } = await admin.query('select password_hash from authz.users where id = $1', [userId]);
    expect(rows[0].password_hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    const stored = JSON.stringify(await events.readStream(`user-${userId}`));
    expect(stored).not.toContain(STRONG_PASSWORD);
    expect(stored).not.toContain(rows[0].password_hash);
  });

  it('sign-up does not reveal whether an email has an account: same status, same shape, the owner gets a mail, no second account', async () => {
    const owner = await signUp(api);
    const ownerEvents = await typesOf(`user-${owner.userId}`);
    const hashing = api.app.get<PasswordHashing>(PASSWORD_HASHING, { strict: false });
    const hashes = jest.spyOn(hashing, 'hash');
    const fresh = `fresh-${randomUUID()}@example.com`;
    try {
      // The taken email in another case: the same account (emails compare case-insensitively).
      const taken = await call(api, 'POST', '/v1/auth/signup', { body: { email: owner.email.toUpperCase(), password: STRONG_PASSWORD, displayName: 'B' } });
      const created = await call(api, 'POST', '/v1/auth/signup', { body: { email: fresh, password: STRONG_PASSWORD, displayName: 'B' } });
      expect([taken.status, created.status]).toEqual([201, 201]);
      expect(taken.headers.get('content-type')).toBe(created.headers.get('content-type'));
      expect(Object.keys(taken.body)).toEqual(['id']);
      expect(Object.keys(created.body)).toEqual(['id']);
      expect(taken.body.id).toMatch(UUID_V7);
      expect(created.body.id).toMatch(UUID_V7);
      // The taken email's password was hashed all the same, so the answer costs the same time.
      expect(hashes).toHaveBeenCalledTimes(2);

      // No second account: the email still names only its owner, the id names no account and no stream.
      const { rows } = await admin.query('select id from authz.users where email_normalized = $1', [owner.email.toLowerCase()]);
      expect(rows.map((r) => r.id)).toEqual([owner.userId]);
      expect((await admin.query('select 1 from authz.users where id = $1', [taken.body.id])).rowCount).toBe(0);
      expect(await events.readStream(`user-${taken.body.id as string}`)).toEqual([]);
      expect(await typesOf(`user-${owner.userId}`)).toEqual(ownerEvents);

      // The owner is told through the same mail port (no link, no token); the new address gets its link.
      const notice = mailsTo(api, owner.email).at(-1)!;
      expect(notice.subject).toBe('Someone tried to sign up for Bastion with your email');
      expect(notice.text).toMatch(/No second account was made/);
      expect(notice.text).not.toMatch(/token/i);
      expect(tokenFromMail(api.mailDir, fresh, 'Verification token')).toEqual(expect.any(String));
    } finally {
      hashes.mockRestore();
    }
  });

  it('a burst of sign-ups with a taken email is answered 201 every time and sends its owner at most 3 sign-up mails an hour', async () => {
    const owner = await signUp(api, { verify: false }); // the verification link is the first of the three
    for (let i = 0; i < 5; i += 1) {
      const reply = await call(api, 'POST', '/v1/auth/signup', { body: { email: owner.email, password: STRONG_PASSWORD, displayName: 'Again' } });
      expect(reply.status).toBe(201);
      expect(reply.body.id).toMatch(UUID_V7);
    }
    const subjects = mailsTo(api, owner.email).map((m) => m.subject);
    expect(subjects).toEqual([
      'Verify your email for Bastion',
      'Someone tried to sign up for Bastion with your email',
      'Someone tried to sign up for Bastion with your email',
    ]);
  });

  it.each([
    ['too short', 'short-pass1', 'PASSWORD.TOO_SHORT'],
    ['common', 'password1234', 'PASSWORD.COMMON'],
  ])('refuses a %s password with a problem naming the field, and changes nothing', async (_name, password, code) => {
    const email = `weak-${randomUUID()}@example.com`;
    const reply = await call(api, 'POST', '/v1/auth/signup', { body: { email, password, displayName: 'W' } });
    expect(reply.status).toBe(422);
    expect(reply.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(reply.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ field: 'password', code })]));
    const { rowCount } = await admin.query('select 1 from authz.users where email_normalized = $1', [email]);
    expect(rowCount).toBe(0);
  });

  it('validates input at the edge: the problem names the field', async () => {
    const reply = await call(api, 'POST', '/v1/auth/signup', { body: { email: 'not-an-email', password: STRONG_PASSWORD, displayName: 'X', admin: true } });
    expect(reply.status).toBe(400);
    expect(reply.body.type).toBe('urn:bastion:problem:validation');
    const fields = (reply.body.errors as { field: string }[]).map((e) => e.field);
    expect(fields).toEqual(expect.arrayContaining(['email', 'admin']));
  });
});

describe('password sign-in', () => {
  it('answers an RS256 access token and sets the refresh cookie HttpOnly, Secure, SameSite=Strict, Path=/', async () => {
    const { userId, email } = await signUp(api);
    const reply = await call(api, 'POST', '/v1/auth/password', { body: { email, password: STRONG_PASSWORD } });
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ tokenType: 'Bearer', expiresIn: 600 });
    expect(JSON.stringify(reply.body)).not.toContain('refresh');
    const { header, payload } = decodeJwt(reply.body.accessToken as string);
    expect(header).toMatchObject({ alg: 'RS256', typ: 'at+jwt' });
    expect(header.kid).toEqual(expect.any(String));
    expect(payload).toMatchObject({ sub: userId, sub_type: 'human', amr: ['pwd'], aud: 'bastion-api' });
    expect(payload.org).toBeUndefined();
    expect((payload.exp as number) - (payload.iat as number)).toBe(600);
    const cookie = reply.cookies.find((c) => c.startsWith('__Host-bastion_rt='))!;
    expect(cookie).toMatch(/; Path=\/; HttpOnly; Secure; SameSite=Strict$/);
    expect(cookie).not.toMatch(/Domain=/i);
    expect(await typesOf(`user-${userId}`)).toContain('SessionStarted');
  });

  it('a wrong password and an unknown email get the same answer, and both are recorded without the password', async () => {
    const { userId, email } = await signUp(api);
    const wrong = await call(api, 'POST', '/v1/auth/password', { body: { email, password: 'not the right one at all' } });
    const unknown = await call(api, 'POST', '/v1/auth/password', { body: { email: `nobody-${randomUUID()}@example.com`, password: 'whatever it is 123' } });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(wrong.body).toEqual({ ...unknown.body, instance: wrong.body.instance });
    await settled(api); // failures are recorded after the answer
    const failures = (await events.readStream(`user-${userId}`)).filter((e) => e.type === 'SignInFailed');
    expect(failures).toHaveLength(1);
    expect(failures[0]!.metadata).toMatchObject({ ip: expect.stringMatching(new RegExp(`^pd1:${userId}:`)), actor: { type: 'human', id: userId } });
    expect(await recordedIp(userId, failures[0]!.metadata)).toBe('127.0.0.1');
    expect(JSON.stringify(failures)).not.toContain('not the right one at all');
  });

  it('a failed sign-in answers before it records anything, so a never-seen email costs the answer no key creation', async () => {
    const { userId, email } = await signUp(api);
    const stranger = `nobody-${randomUUID()}@example.com`;
    const personKeys = async () => (await admin.query<{ n: number }>('select count(*)::int as n from authz.person_keys')).rows[0]!.n;
    const keysBefore = await personKeys();
    const {
      replies: [known, unknown],
      held,
    } = await answeredWhileHeld(async () => [
      await call(api, 'POST', '/v1/auth/password', { body: { email, password: 'not the right one at all' } }),
      await call(api, 'POST', '/v1/auth/password', { body: { email: stranger, password: 'not the right one at all' } }),
    ]);
    expect([known.status, unknown.status]).toEqual([401, 401]);
    expect(held).toHaveLength(2);
    // When both answered: no key made for the stranger's email, no event for either.
    expect(await personKeys()).toBe(keysBefore);
    expect((await events.readStream(`user-${userId}`)).map((e) => e.type)).not.toContain('SignInFailed');
    for (const release of held) release();
    await settled(api);
    expect((await events.readStream(`user-${userId}`)).filter((e) => e.type === 'SignInFailed')).toHaveLength(1);
    expect(await personKeys()).toBeGreaterThan(keysBefore);
  });

  it('refuses sign-in without an allowed Origin, or without a JSON body (CSRF)', async () => {
    const { email } = await signUp(api);
    expect((await call(api, 'POST', '/v1/auth/password', { body: { email, password: STRONG_PASSWORD }, origin: null })).status).toBe(403);
    expect((await call(api, 'POST', '/v1/auth/password', { body: { email, password: STRONG_PASSWORD }, origin: 'https://evil.example' })).status).toBe(403);
    const form = await call(api, 'POST', '/v1/auth/password', {
      body: `email=${encodeURIComponent(email)}&password=x`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(form.status).toBe(415);
  });

  it('locks an account after repeated failures, answers 429 with Retry-After, and records the burst once', async () => {
    const { userId, email } = await signUp(api);
    for (let i = 0; i < 10; i += 1) {
      expect((await call(api, 'POST', '/v1/auth/password', { body: { email, password: `wrong password ${i}!` } })).status).toBe(401);
    }
    const refused = await call(api, 'POST', '/v1/auth/password', { body: { email, password: STRONG_PASSWORD } });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    for (let i = 0; i < 5; i += 1) await call(api, 'POST', '/v1/auth/password', { body: { email, password: 'x'.repeat(20) } });
    await settled(api);
    const stream = await events.readStream(`user-${userId}`);
    // Ten failures are ten events, the last one saying it locked the account; the refused burst adds none yet.
    expect(stream.filter((e) => e.type === 'SignInFailed')).toHaveLength(10);
    expect(stream.filter((e) => e.type === 'SignInFailed').at(-1)!.data.reason).toBe('locked');

  });

  it('a forged X-Forwarded-For changes neither the rate limit key nor the recorded IP', async () => {
    const { userId, email } = await signUp(api);
    await call(api, 'POST', '/v1/auth/password', {
      body: { email, password: 'wrong password here' },
      headers: { 'x-forwarded-for': '203.0.113.77' },
    });
    await settled(api);
    const failure = (await events.readStream(`user-${userId}`)).find((e) => e.type === 'SignInFailed')!;
    expect(JSON.stringify(failure)).not.toContain('203.0.113.77');
    expect(await recordedIp(userId, failure.metadata)).toBe('127.0.0.1');
  });
});

describe('refresh-token families', () => {
  it('each refresh rotates to a new token; the access token keeps the session', async () => {
    const user = await newUser(api);
    const first = await call(api, 'POST', '/v1/auth/refresh', { cookie: user.cookie });
    expect(first.status).toBe(200);
    const next = refreshCookie(first)!;
    expect(next).not.toBe(user.cookie);
    expect(decodeJwt(first.body.accessToken as string).payload.sid).toBe(decodeJwt(user.accessToken).payload.sid);
    expect((await call(api, 'POST', '/v1/auth/refresh', { cookie: next })).status).toBe(200);
  });

  it('two concurrent refreshes with the same token both succeed with the same successor', async () => {
    const user = await newUser(api);
    const [a, b] = await Promise.all([
      call(api, 'POST', '/v1/auth/refresh', { cookie: user.cookie }),
      call(api, 'POST', '/v1/auth/refresh', { cookie: user.cookie }),
    ]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(refreshCookie(a)).toBe(refreshCookie(b));
  });

  it('the old token after the grace window revokes the family: the current successor stops working too, and the reuse is recorded', async () => {
    const user = await newUser(api);
    const rotated = await call(api, 'POST', '/v1/auth/refresh', { cookie: user.cookie });
    const successor = refreshCookie(rotated)!;
    await new Promise((r) => setTimeout(r, 1200)); // past REFRESH_GRACE_SECONDS=1
    const replay = await call(api, 'POST', '/v1/auth/refresh', { cookie: user.cookie });
    expect(replay.status).toBe(401);
    expect((await call(api, 'POST', '/v1/auth/refresh', { cookie: successor })).status).toBe(401);
    expect((await call(api, 'GET', '/v1/auth/sessions', { token: rotated.body.accessToken as string })).status).toBe(401);
    expect(await typesOf(`user-${user.userId}`)).toContain('RefreshTokenReuseDetected');
  });

  it('a revoked session refuses even the current token inside the grace window', async () => {
    const user = await newUser(api);
    const rotated = await call(api, 'POST', '/v1/auth/refresh', { cookie: user.cookie });
    const successor = refreshCookie(rotated)!;
    expect((await call(api, 'POST', '/v1/auth/logout', { cookie: successor })).status).toBe(204);
    expect((await call(api, 'POST', '/v1/auth/refresh', { cookie: successor })).status).toBe(401);
    expect((await call(api, 'POST', '/v1/auth/refresh', { cookie: user.cookie })).status).toBe(401);
  });

  it('logout revokes the session: its unexpired access token is refused at the next request', async () => {
    const user = await newUser(api);
    expect((await call(api, 'GET', '/v1/auth/sessions', { token: user.accessToken })).status).toBe(200);
    const out = await call(api, 'POST', '/v1/auth/logout', { cookie: user.cookie });
    expect(out.status).toBe(204);
    expect(out.cookies.some((c) => c.startsWith('__Host-bastion_rt=;') && c.includes('Max-Age=0'))).toBe(true);
    expect((await call(api, 'GET', '/v1/auth/sessions', { token: user.accessToken })).status).toBe(401);
    expect(await typesOf(`user-${user.userId}`)).toContain('SessionRevoked');
  });

  it('a refresh without an allowed Origin is refused', async () => {
    const user = await newUser(api);
    expect((await call(api, 'POST', '/v1/auth/refresh', { cookie: user.cookie, origin: 'https://evil.example' })).status).toBe(403);
    expect((await call(api, 'POST', '/v1/auth/refresh', { cookie: user.cookie, origin: null })).status).toBe(403);
  });

  it('logout with a foreign Origin, no Origin, or no JSON body is refused (CSRF) and ends nothing', async () => {
    const user = await newUser(api);
    const refusals = [
      await call(api, 'POST', '/v1/auth/logout', { cookie: user.cookie, origin: 'https://evil.example' }),
      await call(api, 'POST', '/v1/auth/logout', { cookie: user.cookie, origin: null }),
      await call(api, 'POST', '/v1/auth/logout', { cookie: user.cookie, body: 'x', headers: { 'content-type': 'text/plain' } }),
    ];
    expect(refusals.map((r) => r.status)).toEqual([403, 403, 415]);
    expect(refusals[0]!.body.type).toBe('urn:bastion:problem:origin-not-allowed');
    expect(refusals[1]!.body.type).toBe('urn:bastion:problem:origin-not-allowed');
    expect(refusals.flatMap((r) => r.cookies)).toEqual([]); // the cookie is not even cleared
    expect(await typesOf(`user-${user.userId}`)).not.toContain('SessionRevoked');
    expect((await call(api, 'GET', '/v1/auth/sessions', { token: user.accessToken })).status).toBe(200);
    expect((await call(api, 'POST', '/v1/auth/refresh', { cookie: user.cookie })).status).toBe(200);
  });

  it('a forged refresh token is refused without revoking anything', async () => {
    const user = await newUser(api);
    const [sid, counter] = user.cookie.split('=')[1]!.split('.');
    const forged = `__Host-bastion_rt=${sid}.${counter}.${'A'.repeat(43)}`;
    expect((await call(api, 'POST', '/v1/auth/refresh', { cookie: forged })).status).toBe(401);
    expect((await call(api, 'POST', '/v1/auth/refresh', { cookie: user.cookie })).status).toBe(200);
  });

  describe('the events that end a session through the refresh cookie carry the request’s IP address and user agent, sealed for the session’s owner', () => {
    const personal = () => api.app.get(PersonalData, { strict: false });
    const router = () => api.app.get<KmsRouter>(KMS_ROUTER, { strict: false });
    afterEach(() => jest.restoreAllMocks());

    /** The one event of `type` in the user's stream, with what it says of the request opened by the owner's key. */
    async function recorded(userId: string, type: string) {
      const matching = (await events.readStream(`user-${userId}`)).filter((e) => e.type === type);
      expect(matching).toHaveLength(1);
      const event = matching[0]!;
      return { event, stored: JSON.stringify(event), opened: await requestDataOf(api, event.metadata) };
    }

    it('person keys go through the process’s one KMS router, the security module’s', async () => {
      const user = await newUser(api);
      const unwrap = jest.spyOn(router(), 'unwrap');
      personal().keys.cache.evictAll();
      await personal().keys.keyFor(personal().transact, user.userId);
      expect(unwrap).toHaveBeenCalledWith('local://platform', expect.any(Buffer), personKeyWrappingAad(user.userId.toLowerCase()));
    });

    it('logout: SessionRevoked by the owner, with the IP address and user agent sealed for them — loaded when not in memory, never in plaintext', async () => {
      const userAgent = `LogoutProbe/${randomUUID()}`;
      const user = await newUser(api);
      personal().keys.cache.evictAll();
      expect((await call(api, 'POST', '/v1/auth/logout', { cookie: user.cookie, headers: { 'user-agent': userAgent } })).status).toBe(204);
      const { event, stored, opened } = await recorded(user.userId, 'SessionRevoked');
      expect(event.data).toEqual({ sessionId: expect.any(String), reason: 'logout' });
      expect(event.metadata.actor).toEqual({ type: 'human', id: user.userId });
      expect(event.metadata.ip).toMatch(new RegExp(`^pd1:${user.userId}:`));
      expect(event.metadata.userAgent).toMatch(new RegExp(`^pd1:${user.userId}:`));
      expect(opened).toEqual({ ip: '127.0.0.1', userAgent, erased: false });
      expect(stored).not.toContain(userAgent);
      expect(stored).not.toContain('127.0.0.1');
    });

    it('refresh-token reuse: RefreshTokenReuseDetected by the system, with the presenting request’s IP address and user agent sealed for the owner — loaded when not in memory', async () => {
      const userAgent = `ReplayProbe/${randomUUID()}`;
      const user = await newUser(api);
      const rotated = await call(api, 'POST', '/v1/auth/refresh', { cookie: user.cookie });
      await new Promise((r) => setTimeout(r, 1200)); // past REFRESH_GRACE_SECONDS=1
      personal().keys.cache.evictAll();
      const unwrap = jest.spyOn(router(), 'unwrap');
      expect((await call(api, 'POST', '/v1/auth/refresh', { cookie: user.cookie, headers: { 'user-agent': userAgent } })).status).toBe(401);
      expect(unwrap).toHaveBeenCalledTimes(1);
      const { event, stored, opened } = await recorded(user.userId, 'RefreshTokenReuseDetected');
      expect(event.data).toMatchObject({ presentedCounter: 0, currentCounter: 1 });
      expect(event.metadata.actor).toEqual({ type: 'system', id: 'bastion' });
      expect(event.metadata.ip).toMatch(new RegExp(`^pd1:${user.userId}:`));
      expect(opened).toEqual({ ip: '127.0.0.1', userAgent, erased: false });
      expect(stored).not.toContain(userAgent);
      expect(stored).not.toContain('127.0.0.1');
      // The family is revoked all the same: the successor is refused, and no second event was recorded.
      expect((await call(api, 'POST', '/v1/auth/refresh', { cookie: refreshCookie(rotated)! })).status).toBe(401);
      await recorded(user.userId, 'RefreshTokenReuseDetected');
    });

    it('with the owner’s key in memory, a reuse costs no KMS call', async () => {
      const user = await newUser(api);
      await call(api, 'POST', '/v1/auth/refresh', { cookie: user.cookie });
      await new Promise((r) => setTimeout(r, 1200));
      const unwrap = jest.spyOn(router(), 'unwrap');
      expect((await call(api, 'POST', '/v1/auth/refresh', { cookie: user.cookie, headers: { 'user-agent': 'CachedProbe/1' } })).status).toBe(401);
      expect(unwrap).not.toHaveBeenCalled();
      expect((await recorded(user.userId, 'RefreshTokenReuseDetected')).opened).toMatchObject({ userAgent: 'CachedProbe/1' });
    });

    it('a KMS that cannot give the key costs the event its IP address and user agent, never the logout or the revocation', async () => {
      const user = await newUser(api);
      const other = await newUser(api);
      await call(api, 'POST', '/v1/auth/refresh', { cookie: other.cookie });
      await new Promise((r) => setTimeout(r, 1200));
      personal().keys.cache.evictAll();
      jest.spyOn(router(), 'unwrap').mockRejectedValue(new Error('KMS unavailable (test)'));
      expect((await call(api, 'POST', '/v1/auth/logout', { cookie: user.cookie, headers: { 'user-agent': 'DownProbe/1' } })).status).toBe(204);
      expect((await call(api, 'GET', '/v1/auth/sessions', { token: user.accessToken })).status).toBe(401);
      expect((await call(api, 'POST', '/v1/auth/refresh', { cookie: other.cookie, headers: { 'user-agent': 'DownProbe/1' } })).status).toBe(401);
      expect((await call(api, 'GET', '/v1/auth/sessions', { token: other.accessToken })).status).toBe(401);
      for (const [userId, type] of [[user.userId, 'SessionRevoked'], [other.userId, 'RefreshTokenReuseDetected']] as const) {
        const { event, stored } = await recorded(userId, type);
        expect([type, event.metadata.ip, event.metadata.userAgent]).toEqual([type, null, null]);
        expect(stored).not.toContain('DownProbe/1');
      }
      expect(api.logs.some((line) => line.includes('could not load the person key'))).toBe(true);
    });
  });

  it('lists one’s own sessions and revokes one by id; another user’s session is not found', async () => {
    const user = await newUser(api);
    const second = await signIn(api, user.email);
    const listed = await call(api, 'GET', '/v1/auth/sessions', { token: user.accessToken });
    expect(listed.status).toBe(200);
    const sessions = listed.body.sessions as { id: string; current: boolean }[];
    expect(sessions).toHaveLength(2);
    const other = sessions.find((s) => !s.current)!;
    const stranger = await newUser(api);
    expect((await call(api, 'DELETE', `/v1/auth/sessions/${other.id}`, { token: stranger.accessToken })).status).toBe(404);
    expect((await call(api, 'DELETE', `/v1/auth/sessions/${other.id}`, { token: user.accessToken })).status).toBe(204);
    expect((await call(api, 'GET', '/v1/auth/sessions', { token: second.accessToken })).status).toBe(401);
  });
});

describe('password reset', () => {
  it('answers the same for unknown emails, sets a new password by a single-use link, and revokes every session', async () => {
    const user = await newUser(api);
    expect((await call(api, 'POST', '/v1/auth/password/reset-request', { body: { email: `nobody-${randomUUID()}@example.com` } })).status).toBe(202);
    expect((await call(api, 'POST', '/v1/auth/password/reset-request', { body: { email: user.email } })).status).toBe(202);
    await settled(api);
    const token = tokenFromMail(api.mailDir, user.email, 'Reset token');
    const newPassword = 'a brand new passphrase 77';
    expect((await call(api, 'POST', '/v1/auth/password/reset', { body: { token, password: newPassword } })).status).toBe(204);
    expect((await call(api, 'POST', '/v1/auth/password/reset', { body: { token, password: newPassword } })).status).toBe(400);
    expect((await call(api, 'GET', '/v1/auth/sessions', { token: user.accessToken })).status).toBe(401);
    expect((await call(api, 'POST', '/v1/auth/refresh', { cookie: user.cookie })).status).toBe(401);
    await expect(signIn(api, user.email)).rejects.toThrow(/401/);
    await signIn(api, user.email, newPassword);
  });

  it('a reset request answers before any account work: same 202 for a known and an unknown email, and the mail arrives afterwards', async () => {
    const user = await signUp(api);
    const stranger = `nobody-${randomUUID()}@example.com`;
    const {
      replies: [known, unknown],
      held,
    } = await answeredWhileHeld(async () => [
      await call(api, 'POST', '/v1/auth/password/reset-request', { body: { email: user.email.toUpperCase() } }),
      await call(api, 'POST', '/v1/auth/password/reset-request', { body: { email: stranger } }),
    ]);
    expect([known.status, unknown.status]).toEqual([202, 202]);
    expect(known.body).toEqual(unknown.body);
    expect(known.headers.get('content-type')).toBe(unknown.headers.get('content-type'));
    expect(known.headers.get('content-length')).toBe(unknown.headers.get('content-length'));
    // Both answered with the same work handed over, none of it begun: no lookup told them apart, no token, no event, no mail.
    expect(held).toHaveLength(2);
    expect(await resetTokensOf(user.userId)).toBe(0);
    expect(await typesOf(`user-${user.userId}`)).not.toContain('PasswordResetRequested');
    expect(resetMailsTo(api, user.email)).toEqual([]);

    for (const release of held) release();
    await settled(api);
    expect(resetMailsTo(api, user.email)).toHaveLength(1);
    expect(resetMailsTo(api, stranger)).toEqual([]);
    expect(await resetTokensOf(user.userId)).toBe(1);
    expect((await typesOf(`user-${user.userId}`)).filter((t) => t === 'PasswordResetRequested')).toHaveLength(1);
  });

  it('a reset whose mail fails after the answer is logged without the email or the token, and the API carries on', async () => {
    const user = await signUp(api);
    const mail = api.app.get<MailSender>(MAIL_SENDER, { strict: false });
    let token = '';
    const refuse = jest.spyOn(mail, 'send').mockImplementationOnce(async (message) => {
      token = /Reset token: (\S+)/.exec(message.text)![1]!;
      throw Object.assign(new Error(`550 mailbox unavailable: <${message.to}> (${token})`), { code: 'EENVELOPE' });
    });
    const rejections: unknown[] = [];
    const onRejection = (reason: unknown) => void rejections.push(reason);
    process.on('unhandledRejection', onRejection);
    try {
      const logged = api.logs.length;
      expect((await call(api, 'POST', '/v1/auth/password/reset-request', { body: { email: user.email } })).status).toBe(202);
      await settled(api);
      const lines = api.logs.slice(logged).filter((line) => line.includes('after response'));
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0]!)).toMatchObject({
        level: 'error',
        msg: 'after response: password reset request failed',
        requestId: expect.any(String),
        error: { name: 'Error', kind: 'EENVELOPE', message: expect.stringContaining('550 mailbox unavailable') },
      });
      expect(token).not.toBe('');
      expect(lines[0]).not.toContain(token);
      expect(lines[0]!.toLowerCase()).not.toContain(user.email.toLowerCase());
      // The API still answers, and the next request's mail goes out.
      expect((await call(api, 'POST', '/v1/auth/password/reset-request', { body: { email: user.email } })).status).toBe(202);
      await settled(api);
      expect(resetMailsTo(api, user.email)).toHaveLength(1);
      await new Promise((resolve) => setImmediate(resolve));
      expect(rejections).toEqual([]);
    } finally {
      refuse.mockRestore();
      process.off('unhandledRejection', onRejection);
    }
  });

  it('graceful shutdown waits for a reset mail still being sent after the answer', async () => {
    const own = await startTestApi(db);
    let release = (): void => undefined;
    try {
      const user = await signUp(own);
      const mail = own.app.get<MailSender>(MAIL_SENDER, { strict: false });
      const send = mail.send.bind(mail);
      const gate = new Promise<void>((resolve) => (release = resolve));
      let calls = 0;
      jest.spyOn(mail, 'send').mockImplementation(async (message) => {
        calls += 1;
        await gate;
        return send(message);
      });
      expect((await call(own, 'POST', '/v1/auth/password/reset-request', { body: { email: user.email } })).status).toBe(202);
      await eventually(async () => (calls > 0 ? true : undefined));
      expect(resetMailsTo(own, user.email)).toEqual([]);

      let closed = false;
      const closing = own.close().then(() => void (closed = true));
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(closed).toBe(false);
      release();
      await closing;
      expect(resetMailsTo(own, user.email)).toHaveLength(1);
    } finally {
      release();
      await dropPrefix(own.redisPrefix);
    }
  });
});

describe('limits on sign-ups, reset requests and failed sign-ins', () => {
  // Behind a trusted proxy (loopback), so each test speaks from an address of its own. The suites' own requests come
  // from loopback, which NODE_ENV=test alone leaves out of the per-IP counts of sign-ups and reset requests.
  let proxied: TestApi;
  beforeAll(async () => {
    proxied = await startTestApi(db, { TRUST_PROXY: '127.0.0.1, ::1, ::ffff:127.0.0.1' });
  });
  afterAll(async () => {
    await proxied?.close();
    if (proxied) await dropPrefix(proxied.redisPrefix);
  });
  const from = (ip: string) => ({ 'x-forwarded-for': ip });
  const signUpFrom = (ip: string, email: string) =>
    call(proxied, 'POST', '/v1/auth/signup', { body: { email, password: STRONG_PASSWORD, displayName: 'Limited' }, headers: from(ip) });
  const resetFrom = (ip: string, email: string) => call(proxied, 'POST', '/v1/auth/password/reset-request', { body: { email }, headers: from(ip) });

  it('the eleventh sign-up from one IP in an hour is refused with 429 and Retry-After, and makes no account; taken emails count the same', async () => {
    const owner = await signUp(api);
    // One of the ten names an existing account: it counts like the others, so the limit tells nothing either.
    const emails = [owner.email, ...Array.from({ length: 9 }, () => `limited-${randomUUID()}@example.com`)];
    for (const email of emails) expect((await signUpFrom('198.51.100.11', email)).status).toBe(201);
    const eleventh = `limited-${randomUUID()}@example.com`;
    const refused = await signUpFrom('198.51.100.11', eleventh);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(refused.body.type).toBe('urn:bastion:problem:too-many-requests');
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(3600);
    expect((await admin.query('select 1 from authz.users where email_normalized = $1', [eleventh])).rowCount).toBe(0);
    expect(mailsTo(proxied, eleventh)).toEqual([]);
    // Another address is not affected.
    expect((await signUpFrom('198.51.100.12', eleventh)).status).toBe(201);
  });

  it('the twenty-first password-reset request from one IP in an hour is refused with 429 and Retry-After, and mails nothing', async () => {
    const user = await signUp(api);
    for (let i = 0; i < 20; i += 1) expect((await resetFrom('198.51.100.21', `nobody-${randomUUID()}@example.com`)).status).toBe(202);
    const refused = await resetFrom('198.51.100.21', user.email);
    expect(refused.status).toBe(429);
    expect(refused.body.type).toBe('urn:bastion:problem:too-many-requests');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    await settled(proxied);
    expect(mailsTo(proxied, user.email)).toEqual([]);
    expect(await typesOf(`user-${user.userId}`)).not.toContain('PasswordResetRequested');
    expect((await resetFrom('198.51.100.22', user.email)).status).toBe(202);
    await settled(proxied);
    expect(mailsTo(proxied, user.email)).toHaveLength(1);
  });

  it('a burst of reset requests for one email sends at most 3 mails, and every request gets the same 202', async () => {
    const user = await signUp(api);
    const replies = [];
    // From several addresses: the per-email limit does not depend on where the requests come from.
    for (let i = 0; i < 10; i += 1) replies.push(await resetFrom(`198.51.100.${30 + (i % 3)}`, user.email));
    expect(replies.map((r) => r.status)).toEqual(Array(10).fill(202));
    expect(new Set(replies.map((r) => JSON.stringify(r.body))).size).toBe(1);
    expect(replies.every((r) => r.headers.get('retry-after') === null)).toBe(true);
    await settled(proxied);
    expect(mailsTo(proxied, user.email).map((m) => m.subject)).toEqual(Array(3).fill('Reset your Bastion password'));
    // Past the limit nothing is done at all: three links, three events.
    expect((await typesOf(`user-${user.userId}`)).filter((t) => t === 'PasswordResetRequested')).toHaveLength(3);
    const { rows } = await admin.query("select count(*)::int as n from authz.email_tokens where user_id = $1 and purpose = 'reset_password'", [user.userId]);
    expect(rows[0].n).toBe(3);
  });

  it('the fifty-first failed sign-in from one IP within 15 minutes is refused with 429, even with the right password, and records nothing', async () => {
    const user = await signUp(api);
    const signInFrom = (ip: string, email: string, password: string) => call(proxied, 'POST', '/v1/auth/password', { body: { email, password }, headers: from(ip) });
    // Fifty failures on fifty different emails: no account reaches its own limit (10), only the address does.
    for (let i = 0; i < 50; i += 1) {
      expect((await signInFrom('203.0.113.51', `stuffing-${randomUUID()}@example.com`, `wrong password ${i}!`)).status).toBe(401);
    }
    const refused = await signInFrom('203.0.113.51', user.email, STRONG_PASSWORD);
    expect(refused.status).toBe(429);
    expect(refused.body.type).toBe('urn:bastion:problem:too-many-attempts');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(refused.cookies).toEqual([]);
    expect(await typesOf(`user-${user.userId}`)).toEqual(['UserSignedUp', 'EmailVerified']);
    // The limit is the address's: the same account signs in from another one.
    expect((await signInFrom('203.0.113.52', user.email, STRONG_PASSWORD)).status).toBe(200);
  });
});

describe('password change', () => {
  it('needs the current password and an acceptable new one, and revokes every other session', async () => {
    const user = await newUser(api);
    const other = await signIn(api, user.email);
    const wrong = await call(api, 'POST', '/v1/auth/password/change', { token: user.accessToken, body: { currentPassword: 'not it at all!', newPassword: 'another good passphrase 9' } });
    expect(wrong.status).toBe(403);
    const weak = await call(api, 'POST', '/v1/auth/password/change', { token: user.accessToken, body: { currentPassword: STRONG_PASSWORD, newPassword: 'short' } });
    expect(weak.status).toBe(422);
    const changed = await call(api, 'POST', '/v1/auth/password/change', { token: user.accessToken, body: { currentPassword: STRONG_PASSWORD, newPassword: 'another good passphrase 9' } });
    expect(changed.status).toBe(200);
    expect(changed.body.revokedSessions).toBe(1);
    expect((await call(api, 'GET', '/v1/auth/sessions', { token: other.accessToken })).status).toBe(401);
    expect((await call(api, 'GET', '/v1/auth/sessions', { token: user.accessToken })).status).toBe(200);
    await signIn(api, user.email, 'another good passphrase 9');
    expect(await typesOf(`user-${user.userId}`)).toContain('PasswordChanged');
  });
});

describe('organisations and agents', () => {
  it('a signed-in human creates an organisation and is its Admin at once', async () => {
    const user = await newUser(api);
    const reply = await call(api, 'POST', '/v1/orgs', { token: user.accessToken, body: { name: 'Acme' } });
    expect(reply.status).toBe(201);
    const orgId = reply.body.id as string;
    expect(await typesOf(`org-${orgId}`)).toEqual(['OrganizationCreated', 'MemberAdded', 'OrgKeyCreated']);
    const { rows } = await admin.query('select role from authz.memberships where org_id = $1 and user_id = $2', [orgId, user.userId]);
    expect(rows).toEqual([{ role: 'admin' }]);
  });

  it('issues an agent a key shown once, stored hashed, that exchanges for an agent token bound to its org', async () => {
    const user = await newUser(api);
    const orgId = (await call(api, 'POST', '/v1/orgs', { token: user.accessToken, body: { name: 'Bots' } })).body.id as string;
    const agent = await call(api, 'POST', `/v1/orgs/${orgId}/agents`, { token: user.accessToken, body: { name: 'build-bot' } });
    expect(agent.status).toBe(201);
    const agentId = agent.body.id as string;
    const issued = await call(api, 'POST', `/v1/orgs/${orgId}/agents/${agentId}/keys`, { token: user.accessToken, body: {} });
    expect(issued.status).toBe(201);
    const key = issued.body.key as string;
    expect(key).toMatch(/^bst_ak_[a-z0-9]{12}_/);
    const { rows } = await admin.query('select key_hash from authz.agent_keys where agent_id = $1', [agentId]);
    expect(rows[0].key_hash.toString('hex')).not.toContain(Buffer.from(key).toString('hex'));
    // The secret is base64url, so it may itself hold an underscore: parse the key, do not split it.
    expect(JSON.stringify(await events.readStream(`agent-${agentId}`))).not.toContain(parseAgentKey(key)!.secret);

    const token = await call(api, 'POST', '/v1/auth/agent-token', { body: { apiKey: key } });
    expect(token.status).toBe(200);
    expect(token.cookies).toEqual([]);
    expect(decodeJwt(token.body.accessToken as string).payload).toMatchObject({ sub: agentId, sub_type: 'agent', org: orgId, amr: ['agent_key'] });

    // An agent token where a human is required is refused like any failed authentication.
    expect((await call(api, 'POST', '/v1/orgs', { token: token.body.accessToken as string, body: { name: 'x' } })).status).toBe(401);

    expect((await call(api, 'DELETE', `/v1/orgs/${orgId}/agents/${agentId}/keys/${issued.body.id}`, { token: user.accessToken })).status).toBe(204);
    expect((await call(api, 'POST', '/v1/auth/agent-token', { body: { apiKey: key } })).status).toBe(401);
    expect(await typesOf(`agent-${agentId}`)).toEqual(['AgentCreated', 'AgentKeyIssued', 'SessionStarted', 'AgentKeyRevoked']);
  });

  it('a user of another organisation cannot create agents or issue keys in it, and nothing is appended', async () => {
    const owner = await newUser(api);
    const orgId = (await call(api, 'POST', '/v1/orgs', { token: owner.accessToken, body: { name: 'Mine' } })).body.id as string;
    const stranger = await newUser(api);
    const attempt = await call(api, 'POST', `/v1/orgs/${orgId}/agents`, { token: stranger.accessToken, body: { name: 'spy' } });
    expect(attempt.status).toBe(403);
    expect(attempt.body.type).toBe('urn:bastion:problem:forbidden');
    expect(await typesOf(`org-${orgId}`)).toEqual(['OrganizationCreated', 'MemberAdded', 'OrgKeyCreated']);
  });

  it('a wrong or malformed agent key gets a plain 401', async () => {
    expect((await call(api, 'POST', '/v1/auth/agent-token', { body: { apiKey: 'bst_ak_aaaaaaaaaaaa_' + 'B'.repeat(43) } })).status).toBe(401);
    expect((await call(api, 'POST', '/v1/auth/agent-token', { body: { apiKey: 'nonsense' } })).status).toBe(401);
  });
});

describe('the API role is proven to the database', () => {
  it('without authz.begin the app role reads nothing from authz, and a forged set_config is not honoured', async () => {
    const user = await newUser(api);
    const client = new Client({ connectionString: db.urlFor('bastion_app') });
    await client.connect();
    try {
      await expect(client.query('select * from authz.sessions')).rejects.toMatchObject({ code: '42501' });
      await expect(client.query('select * from authz.users')).rejects.toMatchObject({ code: '42501' });
      await client.query('begin');
      const sid = decodeJwt(user.accessToken).payload.sid as string;
      await client.query("select set_config('bastion.session_id', $1, true), set_config('bastion.principal_id', $2, true)", [sid, user.userId]);
      const { rows } = await client.query('select authz.current_principal() as p');
      expect(rows[0].p).toBeNull();
      expect((await client.query('select * from authz.my_sessions()')).rows).toEqual([]);
      await client.query('rollback');
      await expect(client.query('select * from authz.begin($1, $2)', [sid, Buffer.alloc(32)])).rejects.toMatchObject({ code: '28000' });
    } finally {
      await client.end();
    }
  });
});
