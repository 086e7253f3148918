import type { Pool } from 'pg';
import { PostgresEventStore } from '@bastion/infra/event-store/postgres/postgres-event-store.adapter';
import { type TestApi, startReplicas, type Replicas } from '../../../../../test/support/api';
import { closePools, poolFor, type TestDatabase, workerDatabase } from '../../../../../test/support/database';
import { eventually } from '../../../../../test/support/events';
import { call, decodeJwt } from '../../../../../test/support/http';
import { signUp, STRONG_PASSWORD } from '../../../../../test/support/identity';

/*
 * Two API processes behind one load balancer sign the same account in at the same moment: each sign-in's
 * transaction inserts its session row and appends SessionStarted to the account's stream (authz.start_session). The
 * test holds every sign-in just before that insert (a SHARE lock on authz.sessions) and lets them all go at once, so
 * their appends meet on one stream at one revision.
 */

const ROUNDS = 3;
const PER_PROCESS = 2;

let db: TestDatabase;
let replicas: Replicas;
let a: TestApi;
let b: TestApi;
let admin: Pool;
let events: PostgresEventStore;

beforeAll(async () => {
  db = await workerDatabase();
  replicas = await startReplicas(db);
  ({ a, b } = replicas);
  admin = poolFor(db.adminUrl);
  events = new PostgresEventStore(admin);
}, 60_000);
afterAll(async () => {
  await replicas?.close();
  await closePools();
});

describe('sign-ins of one account in two API processes at once', () => {
  it('concurrent successful sign-ins of one account never answer 500, and every session is recorded', async () => {
    for (let round = 0; round < ROUNDS; round += 1) {
      const { userId, email } = await signUp(a);
      const apis = [a, b].flatMap((api) => Array.from({ length: PER_PROCESS }, () => api));
      const gate = await admin.connect();
      let replies: Awaited<ReturnType<typeof call>>[];
      try {
        await gate.query('begin');
        await gate.query('lock table authz.sessions in share mode');
        const signIns = Promise.all(apis.map((api) => call(api, 'POST', '/v1/auth/password', { body: { email, password: STRONG_PASSWORD } })));
        await eventually(async () => {
          const { rows } = await admin.query<{ n: number }>(
            `select count(*)::int as n from pg_locks
              where relation = 'authz.sessions'::regclass and database = (select oid from pg_database where datname = current_database())
                and not granted`,
          );
          return rows[0]!.n === apis.length ? true : undefined;
        });
        await gate.query('commit');
        replies = await signIns;
      } finally {
        await gate.query('rollback').catch(() => undefined);
        gate.release();
      }

      expect(replies.map((r) => r.status)).toEqual(apis.map(() => 200));
      const sessionIds = replies.map((r) => decodeJwt(r.body.accessToken as string).payload.sid as string);
      const stream = await events.readStream(`user-${userId}`);
      const started = stream.filter((e) => e.type === 'SessionStarted').map((e) => e.data.sessionId as string);
      expect(started.sort()).toEqual([...sessionIds].sort());
      expect(stream.map((e) => e.revision)).toEqual(stream.map((_, i) => i));
      const { rows } = await admin.query<{ id: string }>("select id from authz.sessions where principal_type = 'human' and principal_id = $1", [userId]);
      expect(rows.map((r) => r.id).sort()).toEqual([...sessionIds].sort());
    }
  }, 60_000);
});
