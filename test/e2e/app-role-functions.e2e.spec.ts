/**
 * Every function the app role may call, called as SQL injected into a request would call it: with what such SQL can
 * know of another principal (a session id, a user id, an org id, an agent id, an email) wherever an id goes, and
 * NULL, empty or degenerate values wherever a secret or a check's input goes. None of those calls may leave the
 * transaction bound to a principal the caller did not prove, nor showing a row of an org it was not admitted to.
 *
 * It is the generic form of migration 0027's fix: `authz.begin(<victim's session>, NULL, <victim's org>)` admitted
 * the victim's session without its proof, because a NULL made the refusal's condition NULL. The catalogue is read at
 * run time, so a function added later is attacked too.
 *
 * Then the writes SQL in a request could make, each an attack by a member of one org (the attacker) on another (the
 * victim): events naming another org through a definer function (migration 0028) or a plain insert (0030), into
 * another org's stream or at a far revision (0031), malformed events that would stop a projection for everyone
 * (0029), and TOTP time steps burned without a code (0028).
 */
import { randomUUID } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import { withPrincipal } from '../../libs/infra/src/database/with-principal';
import { PostgresEventStore } from '../../libs/infra/src/event-store/postgres/postgres-event-store.adapter';
import { type TestApi, startTestApi } from '../support/api';
import { closePools, poolFor, type TestDatabase, workerDatabase } from '../support/database';
import { call } from '../support/http';
import { sessionCredentials } from '../support/identity';
import { newAgent, newOrg, type OrgFixture, stepUp } from '../support/orgs';
import { TestProjector } from '../support/projector';
import { newEvent } from '../support/events';
import { dropPrefix } from '../support/redis';

let db: TestDatabase;
let api: TestApi;
let app: Pool;
let admin: Pool;
let victim: OrgFixture;
let attacker: OrgFixture;
let agentId: string;

interface Callable {
  readonly signature: string;
  readonly name: string;
  readonly procedure: boolean;
  readonly types: readonly string[];
}

beforeAll(async () => {
  db = await workerDatabase();
  api = await startTestApi(db);
  app = poolFor(db.urlFor('bastion_app'), 1);
  admin = poolFor(db.adminUrl, 1);
  victim = await newOrg(api, 'Victim');
  attacker = await newOrg(api, 'Attacker');
  agentId = (await newAgent(api, victim, 'victim bot')).agentId;
  for (const org of [victim, attacker]) {
    await call(api, 'POST', `/v1/orgs/${org.orgId}/tasks`, { token: org.admin.accessToken, body: { title: `task of ${org.orgId}` } });
  }
  await new TestProjector(db).catchUp();
});
afterAll(async () => {
  await api?.close();
  await closePools();
  if (api) await dropPrefix(api.redisPrefix);
});

/** Every function and procedure outside the system schemas that bastion_app may execute, with its argument types. */
async function callables(): Promise<Callable[]> {
  const { rows } = await app.query<{ signature: string; name: string; kind: string; types: string[] }>(`
    select p.oid::regprocedure::text as signature, quote_ident(n.nspname) || '.' || quote_ident(p.proname) as name,
           p.prokind as kind, array(select format_type(t, null) from unnest(p.proargtypes::oid[]) as t) as types
      from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     where n.nspname not in ('pg_catalog', 'information_schema', 'extensions') and n.nspname not like 'pg\\_%'
       and p.prokind in ('f', 'p') and p.prorettype <> 'trigger'::regtype
       and has_function_privilege('bastion_app', p.oid, 'execute')
     order by 1`);
  return rows.map((r) => ({ signature: r.signature, name: r.name, procedure: r.kind === 'p', types: r.types }));
}

/** Where an id goes, SQL in a request could pass any id it has seen: the victim's session, user, org or agent, or none. */
function ids(): readonly unknown[] {
  return [null, sessionCredentials(api, victim.admin.accessToken).sessionId, victim.admin.userId, victim.orgId, agentId];
}

/** Elsewhere, NULL first, then the degenerate values of the type (empty, all-zero, an array of NULL). */
function degenerate(type: string): readonly unknown[] {
  switch (type) {
    case 'uuid[]':
      return [null, '{}', '{NULL}', `{${victim.orgId}}`];
    case 'bytea':
      return [null, Buffer.alloc(0), Buffer.alloc(32)];
    case 'bytea[]':
      return [null, '{}', '{NULL}', '{""}'];
    case 'text':
      return [null, '', victim.admin.email];
    case 'text[]':
      return [null, '{}', '{NULL}', '{""}'];
    case 'boolean':
      return [null, true, false];
    case 'integer':
    case 'bigint':
      return [null, 0, -1];
    case 'jsonb':
      return [null, '{}'];
    default:
      return [null];
  }
}

/**
 * The argument lists to try: every assignment of ids to the id arguments (so the victim's session id does reach the
 * argument that takes a session), each with the other arguments all NULL, then all at their next degenerate value,
 * and so on (in step, not every product: a function of eleven arguments would otherwise take tens of thousands).
 */
function combinations(types: readonly string[]): unknown[][] {
  let idLists: unknown[][] = [[]];
  for (const type of types) if (type === 'uuid') idLists = idLists.flatMap((prefix) => ids().map((id) => [...prefix, id]));
  const others = types.map((type) => (type === 'uuid' ? [] : degenerate(type)));
  const steps = Math.max(1, ...others.map((values) => values.length));
  return idLists.flatMap((idList) =>
    Array.from({ length: steps }, (_, step) => {
      let nextId = 0;
      return types.map((type, i) => (type === 'uuid' ? idList[nextId++] : others[i]![step % others[i]!.length]));
    }),
  );
}

/** Who the transaction is bound to now, and how many tasks of each org it shows. */
async function standing(tx: PoolClient): Promise<{ principal: string | null; victimTasks: number; attackerTasks: number }> {
  const { rows } = await tx.query(
    `select authz.current_principal()::text as principal,
            (select count(*)::int from tasks where org_id = $1) as "victimTasks",
            (select count(*)::int from tasks where org_id = $2) as "attackerTasks"`,
    [victim.orgId, attacker.orgId],
  );
  return rows[0];
}

/**
 * Calls `fn` with every combination in the transaction `tx`, each in a savepoint of its own; returns the calls after
 * which the transaction was bound to another principal than `expected`'s, or showed more tasks than it did.
 */
async function attack(
  tx: PoolClient,
  fn: Callable,
  expected: Awaited<ReturnType<typeof standing>>,
): Promise<{ calls: number; breaches: string[] }> {
  const breaches: string[] = [];
  const placeholders = fn.types.map((type, i) => `$${i + 1}::${type}`).join(', ');
  const sql = fn.procedure ? `call ${fn.name}(${placeholders})` : `select ${fn.name}(${placeholders})`;
  const tries = combinations(fn.types);
  for (const args of tries) {
    await tx.query('savepoint attempt');
    try {
      await tx.query(sql, args);
    } catch {
      await tx.query('rollback to savepoint attempt');
      continue;
    }
    const now = await standing(tx);
    // Dropping the principal (authz.begin_anonymous does) takes nothing; being anyone else, or seeing more, is a breach.
    const breached =
      (now.principal !== null && now.principal !== expected.principal) ||
      now.victimTasks > expected.victimTasks ||
      now.attackerTasks > expected.attackerTasks;
    if (breached) {
      breaches.push(`${fn.signature} with ${JSON.stringify(args)} → ${JSON.stringify(now)}`);
    }
    await tx.query('rollback to savepoint attempt');
  }
  return { calls: tries.length, breaches };
}

async function attackEvery(open: (work: (tx: PoolClient) => Promise<void>) => Promise<void>): Promise<{ calls: number; breaches: string[] }> {
  const fns = await callables();
  expect(fns.map((f) => f.name)).toContain('authz.begin');
  let calls = 0;
  const breaches: string[] = [];
  for (const fn of fns) {
    await open(async (tx) => {
      await tx.query("set local statement_timeout = '5s'");
      const expected = await standing(tx);
      const result = await attack(tx, fn, expected);
      calls += result.calls;
      breaches.push(...result.breaches);
    });
  }
  return { calls, breaches };
}

describe('no function the app role may call binds a principal it did not prove', () => {
  it('from a transaction with no principal: every call leaves it bound to no one, showing nothing', async () => {
    const { calls, breaches } = await attackEvery(async (work) => {
      const tx = await app.connect();
      try {
        await tx.query('begin');
        await work(tx);
      } finally {
        await tx.query('rollback');
        await tx.query('select pg_advisory_unlock_all()');
        tx.release();
      }
    });
    expect(calls).toBeGreaterThan(1000);
    expect(breaches).toEqual([]);
  }, 240_000);

  it('from inside the attacker’s own request: every call leaves it the attacker’s, showing only the attacker’s org', async () => {
    const credentials = sessionCredentials(api, attacker.admin.accessToken);
    const { calls, breaches } = await attackEvery(async (work) => {
      await withPrincipal(app, credentials, attacker.orgId, async (tx) => {
        expect(await standing(tx)).toEqual({ principal: attacker.admin.userId, victimTasks: 0, attackerTasks: 1 });
        await work(tx);
        // Rolled back: the attempts' writes do not outlive this test.
        throw new RolledBack();
      }).catch((error: unknown) => {
        if (!(error instanceof RolledBack)) throw error;
      });
    });
    expect(calls).toBeGreaterThan(1000);
    expect(breaches).toEqual([]);
  }, 240_000);
});

class RolledBack extends Error {}

/** An event as the API builds one, by the attacker's admin, claiming whatever org and data the attack needs. */
function forged(type: string, data: Record<string, unknown>, orgId: string | null): Record<string, unknown> {
  return { id: randomUUID(), type, data, metadata: { actor: { type: 'human', id: attacker.admin.userId }, orgId, occurredAt: new Date().toISOString() } };
}

async function eventsOfVictimOrg(): Promise<number> {
  return (await admin.query<{ n: number }>('select count(*)::int as n from events where org_id = $1', [victim.orgId])).rows[0]!.n;
}

/** Runs `work` in the attacker admin's own request (no org, or its org); commits, as a successful attack would. */
async function asAttacker<T>(orgId: string | null, work: (tx: PoolClient) => Promise<T>): Promise<T> {
  return withPrincipal(app, sessionCredentials(api, attacker.admin.accessToken), orgId, work);
}

/** Steps the user up unless their session already is MFA-fresh (a time step counts once, so a second step-up waits). */
async function mfaFresh(user: OrgFixture['admin']): Promise<void> {
  const { rows } = await admin.query("select mfa_at > now() - interval '10 minutes' as fresh from authz.sessions where id = $1", [
    sessionCredentials(api, user.accessToken).sessionId,
  ]);
  if (rows[0]?.fresh !== true) await stepUp(api, user);
}

const attackerActor = () => ({ type: 'human' as const, id: attacker.admin.userId });

/**
 * A raw insert into the attacker's org, as SQL in the attacker's request would write it (its metadata naming
 * `metadataOrg`), rolled back: the outcome, a SQLSTATE or 'appended'.
 */
async function rawInsert(stream: string, revision: number, type: string, data: unknown, metadataOrg = attacker.orgId): Promise<string> {
  return asAttacker(attacker.orgId, async (tx) => {
    const event = newEvent(type, {}, { orgId: metadataOrg, actor: attackerActor() });
    await tx.query('savepoint raw');
    const outcome = await tx
      .query(
        `insert into events (id, stream_id, revision, type, org_id, data, metadata) values ($1, $2, $3, $4, $5, $6, $7)`,
        [event.id, stream, revision, type, attacker.orgId, JSON.stringify(data), JSON.stringify(event.metadata)],
      )
      .then(() => 'appended', (error: { code?: string }) => error.code ?? 'no code');
    await tx.query('rollback to savepoint raw');
    return outcome;
  });
}

const refusal = (promise: Promise<unknown>) => promise.then(() => 'appended', (error: { code?: string }) => error.code);

describe('a definer function appends only events of the org it acts on (migration 0028)', () => {
  it('an organisation created by the attacker cannot put its events in another org’s log, nor leave out its creator or member', async () => {
    const before = await eventsOfVictimOrg();
    const orgId = randomUUID();
    await asAttacker(null, (tx) =>
      tx.query('select authz.create_organization($1, $2)', [
        orgId,
        JSON.stringify([
          forged('OrganizationCreated', { name: 'Decoy' }, victim.orgId),
          forged('MemberAdded', { orgId: victim.orgId }, victim.orgId),
        ]),
      ]),
    );
    expect(await eventsOfVictimOrg()).toBe(before);
    // The projector applies them (a MemberAdded without its member, or an org without its creator, would stall it).
    await new TestProjector(db).catchUp();
    expect((await admin.query('select user_id, role from org_members where org_id = $1', [orgId])).rows).toEqual([
      { user_id: attacker.admin.userId, role: 'admin' },
    ]);
    const { rows } = await admin.query('select type, org_id, data from events where stream_id = $1 order by revision', [`org-${orgId}`]);
    expect(rows).toEqual([
      { type: 'OrganizationCreated', org_id: orgId, data: { name: 'Decoy', orgId, createdBy: attacker.admin.userId, providerId: null } },
      { type: 'MemberAdded', org_id: orgId, data: { orgId, userId: attacker.admin.userId, role: 'admin' } },
    ]);
  });

  it('an admin’s role change in its own org cannot name another org, in the metadata or in the data', async () => {
    await mfaFresh(attacker.admin);
    const before = await eventsOfVictimOrg();
    const change = (event: Record<string, unknown>) =>
      refusal(
        asAttacker(attacker.orgId, (tx) =>
          tx.query('select authz.change_member_role($1, $2, $3, $4)', [attacker.orgId, attacker.admin.userId, 'admin', JSON.stringify(event)]),
        ),
      );
    const demoteVictim = { orgId: victim.orgId, userId: victim.admin.userId, to: 'viewer' };
    // Claiming the other org in the metadata: refused.
    expect(await change(forged('MemberRoleChanged', demoteVictim, victim.orgId))).toBe('42501');
    // Claiming it in the data: the function writes the org, the member and the role its arguments name instead.
    expect(await change(forged('MemberRoleChanged', demoteVictim, attacker.orgId))).toBe('appended');
    expect(await eventsOfVictimOrg()).toBe(before);
    const { rows } = await admin.query(
      "select org_id, data from events where stream_id = $1 and type = 'MemberRoleChanged' order by revision desc limit 1",
      [`org-${attacker.orgId}`],
    );
    expect(rows[0]).toEqual({ org_id: attacker.orgId, data: { orgId: attacker.orgId, userId: attacker.admin.userId, to: 'admin', from: 'admin' } });
  });

  it('a NULL role is refused before any check it would skip', async () => {
    await mfaFresh(attacker.admin);
    const event = forged('MemberRoleChanged', { orgId: attacker.orgId, userId: attacker.admin.userId }, attacker.orgId);
    const attempt = asAttacker(attacker.orgId, (tx) =>
      tx.query('select authz.change_member_role($1, $2, $3, $4)', [attacker.orgId, attacker.admin.userId, null, JSON.stringify(event)]),
    );
    await expect(attempt).rejects.toMatchObject({ code: '42501', message: expect.stringContaining('not an organisation role') });
  });
});

describe('the TOTP time steps the database takes are near its clock (migration 0028)', () => {
  async function lastUsedStep(userId: string): Promise<string | null> {
    const { rows } = await admin.query('select last_used_step::text as s from authz.totp_credentials where user_id = $1', [userId]);
    return rows[0]?.s ?? null;
  }

  it('SQL without a code cannot burn another user’s future TOTP steps', async () => {
    await stepUp(api, victim.admin);
    const before = await lastUsedStep(victim.admin.userId);
    const now = Math.floor(Date.now() / 30_000);
    for (const step of ['9223372036854775807', String(now + 10), null]) {
      const tx = await app.connect();
      try {
        const { rows } = await tx.query('select authz.mfa_consume_step($1, $2) as ok', [victim.admin.userId, step]);
        expect(rows[0].ok).toBe(false);
      } finally {
        tx.release();
      }
    }
    expect(await lastUsedStep(victim.admin.userId)).toBe(before);
  });

  it('a step-up with a far or NULL step does not make the session MFA-fresh', async () => {
    await mfaFresh(attacker.admin);
    const session = sessionCredentials(api, attacker.admin.accessToken).sessionId;
    const mfaAt = async () => (await admin.query('select mfa_at from authz.sessions where id = $1', [session])).rows[0].mfa_at;
    const before = await mfaAt();
    for (const step of ['9223372036854775807', null]) {
      const ok = await asAttacker(attacker.orgId, async (tx) => {
        const event = forged('StepUpVerified', { userId: attacker.admin.userId, sessionId: session }, null);
        return (await tx.query('select authz.mfa_step_up($1, $2) as ok', [step, JSON.stringify(event)])).rows[0].ok;
      });
      expect(ok).toBe(false);
    }
    expect(await mfaAt()).toEqual(before);
  });
});

describe('a malformed event in one org stalls no read model (migration 0029)', () => {
  it('a TaskCreated without its title, appended by SQL in a member’s request, is parked; the next org’s task is projected', async () => {
    const taskId = randomUUID();
    const malformed = newEvent(
      'TaskCreated',
      { orgId: attacker.orgId, taskId, status: 'todo', position: 0, createdBy: attacker.admin.userId },
      { orgId: attacker.orgId, actor: { type: 'human', id: attacker.admin.userId } },
    );
    await asAttacker(attacker.orgId, (tx) => new PostgresEventStore(tx).append(`task-${taskId}`, [malformed], 'no_stream'));
    const created = await call(api, 'POST', `/v1/orgs/${victim.orgId}/tasks`, { token: victim.admin.accessToken, body: { title: 'after the attack' } });
    expect(created.status).toBe(201);

    await new TestProjector(db).catchUp();

    const titles = await admin.query('select title from tasks where org_id = $1 order by created_at', [victim.orgId]);
    expect(titles.rows.map((r) => r.title)).toContain('after the attack');
    const parked = await admin.query('select consumer, sqlstate from projection_parked_events where event_id = $1', [malformed.id]);
    expect(parked.rows).toEqual(expect.arrayContaining([{ consumer: 'tasks', sqlstate: '23502' }]));
  });
});

describe('an event the app role appends names only the request’s org (migration 0030)', () => {
  const append = (stream: string, event: ReturnType<typeof newEvent>) =>
    refusal(asAttacker(attacker.orgId, (tx) => new PostgresEventStore(tx).append(stream, [event], 'any')));

  it('a task whose data names another org is refused, and so is a role change that does', async () => {
    const taskId = randomUUID();
    const task = { orgId: victim.orgId, taskId, title: 'planted', description: '', status: 'todo', position: 0, createdBy: attacker.admin.userId };
    expect(await append(`task-${taskId}`, newEvent('TaskCreated', task, { orgId: attacker.orgId, actor: attackerActor() }))).toBe('42501');
    const demote = { orgId: victim.orgId, userId: victim.admin.userId, from: 'admin', to: 'viewer' };
    expect(await append(`org-${attacker.orgId}`, newEvent('MemberRoleChanged', demote, { orgId: attacker.orgId, actor: attackerActor() }))).toBe('42501');
  });

  it('an event whose metadata names another org than its org_id column is refused', async () => {
    expect(await rawInsert(`task-${randomUUID()}`, 0, 'TaskMoved', { taskId: randomUUID(), status: 'done' }, victim.orgId)).toBe('42501');
  });

  it('the same events naming the request’s own org are appended', async () => {
    const taskId = randomUUID();
    const task = { orgId: attacker.orgId, taskId, title: 'honest', description: '', status: 'todo', position: 0, createdBy: attacker.admin.userId };
    expect(await append(`task-${taskId}`, newEvent('TaskCreated', task, { orgId: attacker.orgId, actor: attackerActor() }))).toBe('appended');
  });
});

describe('a stream belongs to one org and grows one revision at a time (migration 0031)', () => {
  it('an event of one org cannot go into another org’s stream, at its next revision or any other', async () => {
    const stream = `org-${victim.orgId}`;
    const { rows } = await admin.query<{ next: number }>('select max(revision)::int + 1 as next from events where stream_id = $1', [stream]);
    const next = rows[0]!.next;
    const data = { orgId: attacker.orgId, invitationId: randomUUID() };
    expect(await rawInsert(stream, next, 'InvitationRevoked', data)).toBe('42501');
    expect(await rawInsert(stream, 1_000_000_000_000_000, 'InvitationRevoked', data)).toBe('42501');
  });

  it('a revision cannot skip ahead, in the attacker’s own org either', async () => {
    const stream = `task-${randomUUID()}`;
    const data = { orgId: attacker.orgId, taskId: randomUUID(), title: 't', description: '', status: 'todo', position: 0, createdBy: attacker.admin.userId };
    expect(await rawInsert(stream, 5, 'TaskCreated', data)).toBe('42501');
    expect(await rawInsert(stream, 0, 'TaskCreated', data)).toBe('appended');
  });

  it('an event whose data is not an object is refused', async () => {
    expect(await rawInsert(`task-${randomUUID()}`, 0, 'TaskMoved', null)).toBe('42501');
    expect(await rawInsert(`task-${randomUUID()}`, 0, 'TaskMoved', ['orgId'])).toBe('42501');
  });

  it('an approval names its own actor as the approver', async () => {
    await mfaFresh(attacker.admin);
    const approval = (approverId: string) => ({ mrId: randomUUID(), headSha: 'a'.repeat(40), approverId, requiredApprovals: 1, commit: {} });
    expect(await rawInsert(`mr-${randomUUID()}`, 0, 'MergeRequestApproved', approval(randomUUID()))).toBe('42501');
    expect(await rawInsert(`mr-${randomUUID()}`, 0, 'MergeRequestApproved', approval(attacker.admin.userId))).toBe('appended');
  });

  it('a merge-request event names its own actor as author, pusher or requester, and an approval’s N is a number (migration 0032)', async () => {
    await mfaFresh(attacker.admin);
    const someoneElse = { type: 'human', id: randomUUID() };
    const mrId = randomUUID();
    const opening = (openedBy: unknown) => ({ mrId, repoId: randomUUID(), orgId: attacker.orgId, sourceBranch: 'x', headSha: 'a'.repeat(40), title: 't', description: '', openedBy });
    expect(await rawInsert(`mr-${mrId}`, 0, 'MergeRequestOpened', opening(someoneElse))).toBe('42501');
    expect(await rawInsert(`mr-${mrId}`, 0, 'MergeRequestOpened', opening(attackerActor()))).toBe('appended');
    const headUpdate = { mrId, headSha: 'b'.repeat(40), pushedBy: someoneElse };
    expect(await rawInsert(`mr-${randomUUID()}`, 0, 'MergeRequestHeadUpdated', headUpdate)).toBe('42501');
    expect(await rawInsert(`mr-${randomUUID()}`, 0, 'MergeRequestHeadUpdated', { ...headUpdate, pushedBy: attackerActor() })).toBe('appended');
    const approval = { mrId, headSha: 'a'.repeat(40), approverId: attacker.admin.userId, requiredApprovals: 'x', commit: {} };
    expect(await rawInsert(`mr-${randomUUID()}`, 0, 'MergeRequestApproved', approval)).toBe('42501');
    expect(await rawInsert(`mr-${randomUUID()}`, 0, 'MergeRequestApproved', { ...approval, requiredApprovals: 1 })).toBe('appended');
  });

  it('a sign-up writes the profile of the user it creates, whatever user its event names', async () => {
    const userId = randomUUID();
    const email = `decoy-${userId}@example.test`;
    const event = { ...newEvent('UserSignedUp', { userId: victim.admin.userId, email: 'sealed', displayName: 'sealed' }), metadata: { ...newEvent('x').metadata, actor: { type: 'human', id: userId } } };
    const tx = await app.connect();
    try {
      await tx.query('begin');
      const { rows } = await tx.query('select authz.sign_up($1, $2, $2, $3, $4, $5, now() + interval \'1 hour\', $6) as ok', [
        userId, email, 'Decoy', '$argon2id$decoy', Buffer.alloc(32, 7), JSON.stringify(event),
      ]);
      expect(rows[0].ok).toBe(true);
      const stored = await admin.query("select data from events where stream_id = $1 and type = 'UserSignedUp'", [`user-${userId}`]);
      expect(stored.rows).toEqual([]); // not committed yet: the admin connection does not see it
      const mine = await tx.query("select authz.current_principal() as p");
      expect(mine.rows[0].p).toBeNull();
      await tx.query('commit');
    } finally {
      tx.release();
    }
    const { rows } = await admin.query("select data from events where stream_id = $1 and type = 'UserSignedUp'", [`user-${userId}`]);
    expect(rows.map((r) => r.data.userId)).toEqual([userId]);
  });
});
