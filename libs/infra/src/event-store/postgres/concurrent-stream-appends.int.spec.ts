import { randomUUID } from 'node:crypto';
import { Client, type Pool } from 'pg';
import { closePools, poolFor, type TestDatabase, workerDatabase } from '../../../../../test/support/database';
import { eventually, newEvent } from '../../../../../test/support/events';
import { WrongExpectedRevisionError } from '../event-store.port';
import { PostgresEventStore } from './postgres-event-store.adapter';

/*
 * The definer functions (authz.start_session, authz.record_sign_in_failure, team commands, MFA…) append through
 * authz.append_event "at the stream's next revision", and the adapter appends to some of the same streams (user-,
 * org-, repo-). Whatever the interleaving, every append that is not refused by an expectation lands, and none fails
 * with a raw unique violation (a 500 on the request path).
 */

const CONTENDERS = 20;
// A key of this test's own (not the event store's class), held by the test to release every contender at once.
const BARRIER: [number, number] = [736_155_299, 1];

let db: TestDatabase;
let admin: Pool;
let workerPool: Pool;

beforeAll(async () => {
  db = await workerDatabase();
  admin = poolFor(db.adminUrl);
  workerPool = poolFor(db.urlFor('bastion_worker'));
});
afterAll(closePools);

async function newUser(): Promise<string> {
  const id = randomUUID();
  const email = `append-${id}@example.com`;
  await admin.query('insert into authz.users (id, email, email_normalized, display_name, created_at) values ($1, $2, $2, $3, now())', [id, email, 'Append Test']);
  return id;
}

function signInFailed(userId: string) {
  return newEvent('SignInFailed', { userId, emailHash: null, reason: 'bad_credentials' }, { actor: { type: 'human', id: userId } });
}

async function connect(role: 'bastion_app' | 'bastion_worker'): Promise<Client> {
  const client = new Client({ connectionString: db.urlFor(role) });
  await client.connect();
  return client;
}

async function backendPid(client: Client): Promise<number> {
  return (await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
}

/** Resolves once the backend is blocked on a heavyweight lock (a row, a unique-index entry, an advisory lock). */
async function waitingOnLock(pid: number): Promise<void> {
  await eventually(async () => {
    const { rows } = await admin.query<{ wait_event_type: string | null }>('select wait_event_type from pg_stat_activity where pid = $1', [pid]);
    return rows[0]?.wait_event_type === 'Lock' ? true : undefined;
  });
}

async function streamRows(streamId: string) {
  const { rows } = await admin.query<{ revision: string; id: string; type: string; position: string }>(
    'select revision, id, type, position from events where stream_id = $1 order by revision',
    [streamId],
  );
  return rows.map((r) => ({ revision: Number(r.revision), id: r.id, type: r.type, position: BigInt(r.position) }));
}

function codeOf(error: unknown): string {
  const e = error as { code?: string; constraint?: string; message?: string };
  return [e.code, e.constraint, e.message].filter(Boolean).join(' ');
}

/**
 * Opens a definer append to the user's stream (a failed sign-in) and leaves it uncommitted, then starts `append` in a
 * transaction of its own through the adapter; resolves once that append waits on the stream lock.
 */
async function appendBehindDefiner<T>(userId: string, append: (bound: PostgresEventStore) => Promise<T>) {
  const definer = await connect('bastion_app');
  const tx = await connect('bastion_worker');
  await definer.query('begin');
  await definer.query('select authz.record_sign_in_failure($1, $2)', [userId, signInFailed(userId)]);
  const pid = await backendPid(tx);
  await tx.query('begin');
  const outcome = append(new PostgresEventStore(tx)).then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  await waitingOnLock(pid);
  return {
    tx,
    outcome,
    commitDefiner: () => definer.query('commit'),
    close: async () => {
      await definer.query('rollback').catch(() => undefined);
      await tx.query('rollback').catch(() => undefined);
      await Promise.all([definer.end(), tx.end()]);
    },
  };
}

describe('appends to one stream from concurrent transactions', () => {
  it('concurrent definer appends to one stream all land, in order, with no gaps', async () => {
    const userId = await newUser();
    const events = Array.from({ length: CONTENDERS }, () => signInFailed(userId));
    const barrier = await admin.connect();
    const clients = await Promise.all(events.map(() => connect('bastion_app')));
    try {
      await barrier.query('select pg_advisory_lock($1, $2)', BARRIER);
      // Each contender is one request's transaction: it queues at the barrier, then appends through the definer
      // function the sign-in route uses, then commits.
      const outcomes = Promise.allSettled(
        clients.map(async (client, i) => {
          await client.query('begin');
          try {
            await client.query('select authz.record_sign_in_failure($1, $2) from (select pg_advisory_xact_lock_shared($3, $4)) barrier', [
              userId,
              events[i],
              ...BARRIER,
            ]);
            await client.query('commit');
          } catch (error) {
            await client.query('rollback');
            throw error;
          }
        }),
      );
      await eventually(async () => {
        const { rows } = await admin.query<{ n: number }>(
          `select count(*)::int as n from pg_locks
            where locktype = 'advisory' and database = (select oid from pg_database where datname = current_database())
              and classid = $1 and objid = $2 and objsubid = 2 and not granted`,
          BARRIER,
        );
        return rows[0]!.n === CONTENDERS ? true : undefined;
      });
      await barrier.query('select pg_advisory_unlock($1, $2)', BARRIER);

      const failures = (await outcomes).flatMap((o) => (o.status === 'rejected' ? [codeOf(o.reason)] : []));
      expect(failures).toEqual([]);
      const rows = await streamRows(`user-${userId}`);
      expect(rows.map((r) => r.revision)).toEqual(Array.from({ length: CONTENDERS }, (_, i) => i));
      expect(rows.map((r) => r.id).sort()).toEqual(events.map((e) => e.id).sort());
      // In order: each append took its revision after the one before it had committed, so positions rise with it.
      for (let i = 1; i < rows.length; i += 1) expect(rows[i]!.position > rows[i - 1]!.position).toBe(true);
    } finally {
      await barrier.query('select pg_advisory_unlock_all()');
      barrier.release();
      await Promise.all(clients.map((c) => c.end()));
    }
  });

  it('a definer append waits for an adapter append to the same stream in flight, and lands after it', async () => {
    const userId = await newUser();
    const streamId = `user-${userId}`;
    const adapter = await connect('bastion_worker');
    const definer = await connect('bastion_app');
    try {
      // The worker's append (a SignInThrottled report, say) is inserted but not committed yet…
      await adapter.query('begin');
      await new PostgresEventStore(adapter).append(streamId, [newEvent('SignInThrottled', { userId })], 'any');
      // …when a sign-in appends to the account's stream through a definer function.
      await definer.query('begin');
      const pid = await backendPid(definer);
      const appended = definer.query('select authz.record_sign_in_failure($1, $2)', [userId, signInFailed(userId)]).then(
        () => 'appended',
        (error: unknown) => codeOf(error),
      );
      await waitingOnLock(pid);
      await adapter.query('commit');
      expect(await appended).toBe('appended');
      await definer.query('commit');
      expect((await streamRows(streamId)).map((r) => [r.revision, r.type])).toEqual([
        [0, 'SignInThrottled'],
        [1, 'SignInFailed'],
      ]);
    } finally {
      await definer.query('rollback').catch(() => undefined);
      await adapter.query('rollback').catch(() => undefined);
      await Promise.all([adapter.end(), definer.end()]);
    }
  });

  it('an `any` append that waited for another appender lands after it, also inside a caller transaction', async () => {
    const userId = await newUser();
    const streamId = `user-${userId}`;
    // Inside a transaction (a request's, say): before migration 0024 it read the revision as of its statement's
    // start, lost on the unique index and aborted the caller's transaction, answering 409 to an append that
    // expects nothing.
    const race = await appendBehindDefiner(userId, (bound) =>
      bound.append(streamId, [newEvent('SignInThrottled', { userId, via: 'transaction' })], 'any'),
    );
    try {
      // And from the pool, queued behind both.
      const pooled = new PostgresEventStore(workerPool).append(streamId, [newEvent('SignInThrottled', { userId, via: 'pool' })], 'any');
      await race.commitDefiner();
      expect(await race.outcome).toMatchObject({ value: { nextExpectedRevision: 1 } });
      await race.tx.query('commit');
      await expect(pooled).resolves.toMatchObject({ nextExpectedRevision: 2 });
      expect((await streamRows(streamId)).map((r) => [r.revision, r.type])).toEqual([
        [0, 'SignInFailed'],
        [1, 'SignInThrottled'],
        [2, 'SignInThrottled'],
      ]);
    } finally {
      await race.close();
    }
  });

  it('an exact-revision append that waited for another appender is refused with the revision that appender wrote', async () => {
    const userId = await newUser();
    const streamId = `user-${userId}`;
    await new PostgresEventStore(workerPool).append(streamId, [newEvent('SignInThrottled', { userId })], 'any');
    const race = await appendBehindDefiner(userId, (bound) => bound.append(streamId, [newEvent('SignInThrottled', { userId })], 0));
    try {
      await race.commitDefiner();
      const { error } = (await race.outcome) as { error?: unknown };
      expect(error).toBeInstanceOf(WrongExpectedRevisionError);
      expect(error).toMatchObject({ actual: 1 });
      await race.tx.query('rollback');
      expect((await streamRows(streamId)).map((r) => [r.revision, r.type])).toEqual([
        [0, 'SignInThrottled'],
        [1, 'SignInFailed'],
      ]);
    } finally {
      await race.close();
    }
  });

  it('authz.append_event stays internal: a definer function no login role may call', async () => {
    const { rows } = await admin.query<{ secdef: boolean; config: string[]; owner: string; callers: string[] }>(
      `select p.prosecdef as secdef, p.proconfig as config, pg_get_userbyid(p.proowner) as owner,
              array(select r from unnest(array['public', 'bastion_app', 'bastion_worker', 'bastion_projector', 'bastion_sealer']) r
                     where has_function_privilege(r, p.oid, 'execute')) as callers
         from pg_proc p where p.oid = 'authz.append_event(text, jsonb, bigint)'::regprocedure`,
    );
    expect(rows).toEqual([{ secdef: true, config: ['search_path=pg_catalog, pg_temp'], owner: 'bastion_authz', callers: [] }]);
  });
});
