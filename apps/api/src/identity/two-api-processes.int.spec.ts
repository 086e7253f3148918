import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Pool } from 'pg';
import { PostgresEventStore } from '@bastion/infra/event-store/postgres/postgres-event-store.adapter';
import { parseEml } from '@bastion/infra/mail/parse-eml';
import { AfterResponse } from '../http/after-response';
import { hashEmailToken } from './email-tokens';
import { PersonalData } from './personal-data/personal-data';
import { type TestApi, startReplicas, type Replicas } from '../../../../test/support/api';
import { closePools, poolFor, type TestDatabase, workerDatabase } from '../../../../test/support/database';
import { call } from '../../../../test/support/http';
import { signUp } from '../../../../test/support/identity';

/*
 * Two API processes behind one load balancer: each serialises the work it does after its answers per address, but
 * only within itself. Here two Nest apps (two pools, two AfterResponse trackers, one database, one Redis prefix, one
 * server secret) take requests about the same account, and the work both hand over for after their answers is
 * released at the same instant, so both append to the account's stream at once.
 */

const PROXIES = '127.0.0.1, ::1, ::ffff:127.0.0.1';
const ROUNDS = 10;
const ACCOUNTS_PER_ROUND = 3;

let db: TestDatabase;
let replicas: Replicas;
let a: TestApi;
let b: TestApi;
let admin: Pool;
let events: PostgresEventStore;

beforeAll(async () => {
  db = await workerDatabase();
  replicas = await startReplicas(db, { TRUST_PROXY: PROXIES });
  ({ a, b } = replicas);
  admin = poolFor(db.adminUrl);
  events = new PostgresEventStore(admin);
}, 60_000);
afterAll(async () => {
  await replicas?.close();
  await closePools();
});

/** Holds what both APIs hand over for after their answers; `release` starts all of it at once. */
function holdAfterResponses(apis: TestApi[]): { release: () => void; held: () => number } {
  const held: (() => void)[] = [];
  const spies = apis.map((api) => {
    const after = api.app.get(AfterResponse, { strict: false });
    const run = after.run.bind(after);
    return jest.spyOn(after, 'run').mockImplementation((res, about, work) => void held.push(() => run(res, about, work)));
  });
  return {
    held: () => held.length,
    release: () => {
      for (const spy of spies) spy.mockRestore();
      for (const start of held.splice(0)) start();
    },
  };
}

const settled = () => Promise.all([a.settled(), b.settled()]);

const failureLogs = (what: string) =>
  [...a.logs, ...b.logs].filter((line) => (JSON.parse(line) as { msg?: string }).msg === `after response: ${what} failed`);

function resetTokensMailed(api: TestApi, to: string): string[] {
  let names: string[];
  try {
    names = readdirSync(api.mailDir);
  } catch {
    return [];
  }
  return names
    .filter((name) => name.endsWith('.eml'))
    .map((name) => parseEml(readFileSync(join(api.mailDir, name))))
    .filter((mail) => mail.to.toLowerCase() === to.toLowerCase() && mail.subject === 'Reset your Bastion password')
    .map((mail) => /Reset token: ([A-Za-z0-9_-]+)/.exec(mail.text)![1]!);
}

describe('work done after the answer, in two API processes at once', () => {
  it('two API processes recording failed sign-ins for one address concurrently lose none', async () => {
    const perProcess = 2;
    const lost: { round: number; recorded: number; expected: number }[] = [];
    let requests = 0;
    for (let round = 0; round < ROUNDS; round += 1) {
      const accounts = await Promise.all(Array.from({ length: ACCOUNTS_PER_ROUND }, () => signUp(a)));
      // Its own client address per round: the per-IP limit (shared through Redis) stays out of the way.
      const headers = { 'x-forwarded-for': `198.51.100.${10 + round}` };
      const hold = holdAfterResponses([a, b]);
      try {
        for (const { email } of accounts) {
          for (let i = 0; i < perProcess; i += 1) {
            for (const api of [a, b]) {
              const reply = await call(api, 'POST', '/v1/auth/password', { body: { email, password: `not the password ${round}-${i}` }, headers });
              expect(reply.status).toBe(401);
            }
          }
        }
        expect(hold.held()).toBe(accounts.length * perProcess * 2);
      } finally {
        hold.release();
      }
      await settled();
      for (const { userId } of accounts) {
        const failures = (await events.readStream(`user-${userId}`)).filter((e) => e.type === 'SignInFailed');
        const expected = perProcess * 2;
        requests += expected;
        // Exactly once each: as many events as failed requests, and no request recorded twice.
        expect(new Set(failures.map((e) => e.metadata.requestId)).size).toBe(failures.length);
        if (failures.length !== expected) lost.push({ round, recorded: failures.length, expected });
      }
    }
    expect({ requests, lost, failureLogs: failureLogs('sign-in failure record').length }).toEqual({ requests, lost: [], failureLogs: 0 });
  }, 120_000);

  it('two API processes handling reset requests for one address concurrently mail one usable link per request', async () => {
    const lost: { round: number; events: number; tokens: number; mails: number }[] = [];
    for (let round = 0; round < ROUNDS; round += 1) {
      const accounts = await Promise.all(Array.from({ length: ACCOUNTS_PER_ROUND }, () => signUp(a)));
      // Both processes hold the account's key in memory, as after any earlier request there: their work takes as long.
      for (const api of [a, b]) {
        const personal = api.app.get(PersonalData, { strict: false });
        await Promise.all(accounts.map(({ userId }) => personal.keys.keyFor(personal.transact, userId)));
      }
      const hold = holdAfterResponses([a, b]);
      try {
        for (const { email } of accounts) {
          for (const api of [a, b]) expect((await call(api, 'POST', '/v1/auth/password/reset-request', { body: { email } })).status).toBe(202);
        }
        expect(hold.held()).toBe(accounts.length * 2);
      } finally {
        hold.release();
      }
      await settled();
      for (const { userId, email } of accounts) {
        const requested = (await events.readStream(`user-${userId}`)).filter((e) => e.type === 'PasswordResetRequested');
        const { rows } = await admin.query<{ token_hash: Buffer; used_at: Date | null; expires_at: Date }>(
          "select token_hash, used_at, expires_at from authz.email_tokens where user_id = $1 and purpose = 'reset_password'",
          [userId],
        );
        const mailed = [...resetTokensMailed(a, email), ...resetTokensMailed(b, email)];
        // One request, one token, one event, one mail: each mailed token is a distinct live row.
        const live = new Set(rows.filter((r) => r.used_at === null && r.expires_at > new Date()).map((r) => r.token_hash.toString('hex')));
        expect(new Set(mailed).size).toBe(mailed.length);
        for (const token of mailed) expect(live.has(hashEmailToken(token).toString('hex'))).toBe(true);
        if (requested.length !== 2 || rows.length !== 2 || mailed.length !== 2) {
          lost.push({ round, events: requested.length, tokens: rows.length, mails: mailed.length });
        }
      }
    }
    expect({ lost, failureLogs: failureLogs('password reset request').length }).toEqual({ lost: [], failureLogs: 0 });
  }, 120_000);
});
