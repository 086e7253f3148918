/**
 * Named statements under RLS (prepared-statement.ts): a plan PostgreSQL keeps on a pooled connection is reused by
 * the next request on that connection, whoever its principal. The policy must still be evaluated for that request:
 * these tests prepare a statement during one principal's request and run it for another org's principal, and with
 * no principal at all, on the same connection (a pool of one), with the plan PostgreSQL settles on and with its
 * generic plan forced.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { closePools, poolFor, type TestDatabase, workerDatabase } from '../../../../test/support/database';
import { sessionProof } from '../identity/session-proof';
import { prepared } from './prepared-statement';
import { type SessionCredentials, withPrincipal } from './with-principal';

const KEY = randomBytes(32);
const LATEST = prepared(
  'test.latest-tasks',
  'select task_id from tasks where org_id = $1 order by updated_at desc limit 50',
);
const ALL_VISIBLE = prepared('test.visible-tasks', 'select task_id from tasks order by task_id');

interface Member {
  readonly orgId: string;
  readonly session: SessionCredentials;
  readonly taskIds: readonly string[];
}

let db: TestDatabase;
let admin: Pool;

/** An org with `tasks` tasks and one member (role `member`, which holds task:view) with a live session. */
async function newMember(tasks: number): Promise<Member> {
  const orgId = randomUUID();
  const userId = randomUUID();
  const sessionId = randomUUID();
  const proof = sessionProof(KEY, sessionId);
  await admin.query('insert into authz.organizations (org_id, created_at) values ($1, now())', [orgId]);
  await admin.query(
    `insert into authz.users (id, email, email_normalized, display_name, email_verified_at, created_at)
     values ($1, $2, $2, 'Member', now(), now())`,
    [userId, `member-${userId}@example.test`],
  );
  await admin.query(`insert into authz.memberships (org_id, user_id, role) values ($1, $2, 'member')`, [orgId, userId]);
  await admin.query(
    `insert into authz.sessions (id, principal_type, principal_id, rotated_at, amr, proof_hash, created_at,
                                 idle_expires_at, absolute_expires_at)
     values ($1, 'human', $2, now(), '{pwd}', $3, now(), now() + interval '1 hour', now() + interval '1 day')`,
    [sessionId, userId, createHash('sha256').update(proof).digest()],
  );
  const { rows } = await admin.query<{ task_id: string }>(
    `insert into tasks (org_id, task_id, title, description, status, position, created_by, created_at, updated_at)
     select $1, gen_random_uuid(), 'Task ' || g, '', 'todo', g, $2, now(), now() - g * interval '1 minute'
       from generate_series(1, $3::int) as g
     returning task_id`,
    [orgId, userId, tasks],
  );
  return { orgId, session: { sessionId, proof }, taskIds: rows.map((r) => r.task_id).sort() };
}

const sorted = (rows: { task_id: string }[]) => rows.map((r) => r.task_id).sort();

beforeAll(async () => {
  db = await workerDatabase();
  admin = poolFor(db.adminUrl, 2);
});
afterAll(closePools);

describe('named statements under RLS', () => {
  let a: Member;
  let b: Member;
  let app: Pool;

  beforeEach(async () => {
    a = await newMember(3);
    b = await newMember(2);
    // One connection: every request below reuses the statement (and its plan) prepared by the first.
    app = poolFor(db.urlFor('bastion_app'), 1);
  });

  async function backend(member: Member | null): Promise<number> {
    const pid = 'select pg_backend_pid() as pid';
    if (!member) return (await app.query<{ pid: number }>(pid)).rows[0]!.pid;
    return withPrincipal(app, member.session, member.orgId, async (tx) => (await tx.query<{ pid: number }>(pid)).rows[0]!.pid);
  }

  async function latest(member: Member, orgId = member.orgId): Promise<string[]> {
    return withPrincipal(app, member.session, member.orgId, async (tx) => sorted((await tx.query<{ task_id: string }>(LATEST.with([orgId]))).rows));
  }

  it('should show principal B only its own org rows through a statement prepared during principal A’s request', async () => {
    const connection = await backend(a);
    // Past the fifth execution, PostgreSQL may replace the custom plans with a generic one it keeps.
    for (let i = 0; i < 8; i += 1) expect(await latest(a)).toEqual(a.taskIds);
    expect(await latest(b)).toEqual(b.taskIds);
    expect(await latest(b, a.orgId)).toEqual([]);
    expect(await latest(a, b.orgId)).toEqual([]);
    const visibleToB = await withPrincipal(app, b.session, b.orgId, async (tx) => sorted((await tx.query<{ task_id: string }>(ALL_VISIBLE.with([]))).rows));
    expect(visibleToB).toEqual(b.taskIds);
    expect(await backend(b)).toBe(connection);
    const { rows } = await app.query<{ generic_plans: string; custom_plans: string }>(
      'select generic_plans, custom_plans from pg_prepared_statements where name = $1',
      [LATEST.name],
    );
    expect(Number(rows[0]!.generic_plans) + Number(rows[0]!.custom_plans)).toBeGreaterThanOrEqual(11);
  });

  it('should return nothing through a prepared statement when no authz.begin bound a principal', async () => {
    const connection = await backend(a);
    for (let i = 0; i < 8; i += 1) expect(await latest(a)).toEqual(a.taskIds);
    expect((await app.query(LATEST.with([a.orgId]))).rows).toEqual([]);
    expect((await app.query(ALL_VISIBLE.with([]))).rows).toEqual([]);
    // In an explicit transaction too, and after a forged binding.
    const forged = await app.connect();
    try {
      await forged.query('begin');
      await forged.query(
        `select set_config('bastion.session_id', $1, true), set_config('bastion.principal_type', 'human', true),
                set_config('bastion.org_id', $2, true), set_config('bastion.binding', $3, true)`,
        [a.session.sessionId, a.orgId, randomBytes(32).toString('hex')],
      );
      expect((await forged.query(LATEST.with([a.orgId]))).rows).toEqual([]);
      await forged.query('rollback');
    } finally {
      forged.release();
    }
    expect(await backend(null)).toBe(connection);
  });

  it('should evaluate the policy afresh for each principal when the generic plan is forced', async () => {
    await app.query('set plan_cache_mode = force_generic_plan'); // this pool's one connection only
    expect(await latest(a)).toEqual(a.taskIds);
    expect(await latest(b)).toEqual(b.taskIds);
    expect(await latest(b, a.orgId)).toEqual([]);
    expect((await app.query(LATEST.with([b.orgId]))).rows).toEqual([]);
    const { rows } = await app.query<{ generic_plans: string }>('select generic_plans from pg_prepared_statements where name = $1', [LATEST.name]);
    expect(Number(rows[0]!.generic_plans)).toBeGreaterThanOrEqual(3);
  });
});

describe('a session is honoured only with its proof', () => {
  // Each attack runs as bastion_app, as injected SQL would, knowing the victim's session id and org (an id is no
  // secret: it sits in the victim's access token and in audit events). Migration 0027: before it, a NULL proof made
  // authz.begin's refusal condition NULL, which PL/pgSQL's IF takes for false, and the victim's session was admitted.
  let victim: Member;
  let other: Member;
  let app: Pool;

  beforeEach(async () => {
    victim = await newMember(2);
    other = await newMember(1);
    app = poolFor(db.urlFor('bastion_app'), 1);
  });

  /** authz.begin with these arguments on one connection: its SQLSTATE, or what the request could then see. */
  async function attempt(args: readonly unknown[]): Promise<string | string[]> {
    const tx = await app.connect();
    try {
      await tx.query('begin');
      await tx.query(`select authz.begin(${args.map((_, i) => `$${i + 1}`).join(', ')})`, [...args]);
      return sorted((await tx.query<{ task_id: string }>(ALL_VISIBLE.with([]))).rows);
    } catch (error) {
      return (error as { code?: string }).code ?? 'no code';
    } finally {
      await tx.query('rollback');
      tx.release();
    }
  }

  it('the victim’s own proof opens its request (the attacks below differ from it only in the proof)', async () => {
    expect(await attempt([victim.session.sessionId, victim.session.proof, victim.orgId])).toEqual(victim.taskIds);
  });

  it('a NULL proof is refused, with or without an org and with a requirement', async () => {
    expect(await attempt([victim.session.sessionId, null, victim.orgId])).toBe('28000');
    expect(await attempt([victim.session.sessionId, null])).toBe('28000');
    expect(await attempt([victim.session.sessionId, null, null])).toBe('28000');
    expect(await attempt([victim.session.sessionId, null, victim.orgId, ['task:view']])).toBe('28000');
  });

  it('an empty, truncated or other session’s proof is refused', async () => {
    expect(await attempt([victim.session.sessionId, Buffer.alloc(0), victim.orgId])).toBe('28000');
    expect(await attempt([victim.session.sessionId, victim.session.proof.subarray(0, 16), victim.orgId])).toBe('28000');
    expect(await attempt([victim.session.sessionId, other.session.proof, victim.orgId])).toBe('28000');
    expect(await attempt([null, null, victim.orgId])).toBe('28000');
  });

  it('a NULL required permission is refused like one not held', async () => {
    expect(await attempt([victim.session.sessionId, victim.session.proof, victim.orgId, [null]])).toBe('BA005');
    expect(await attempt([victim.session.sessionId, victim.session.proof, victim.orgId, ['task:view', null]])).toBe('BA005');
  });

  it('after every refused attempt the connection shows nothing', async () => {
    expect(await attempt([victim.session.sessionId, null, victim.orgId])).toBe('28000');
    expect((await app.query(ALL_VISIBLE.with([]))).rows).toEqual([]);
  });
});

describe("authz.begin with the route's required permissions", () => {
  let a: Member;
  let app: Pool;

  beforeEach(async () => {
    a = await newMember(2);
    app = poolFor(db.urlFor('bastion_app'), 1);
  });

  const visible = (member: Member, required: readonly string[]) =>
    withPrincipal(app, member.session, member.orgId, async (tx) => sorted((await tx.query<{ task_id: string }>(ALL_VISIBLE.with([]))).rows), required);
  const refusal = (promise: Promise<unknown>) => promise.then(() => 'admitted', (error: { code?: string }) => error.code);

  it('should admit a member to a request whose required permissions the member holds', async () => {
    expect(await visible(a, ['task:view'])).toEqual(a.taskIds);
    expect(await visible(a, ['task:view', 'task:create'])).toEqual(a.taskIds);
    expect(await visible(a, [])).toEqual(a.taskIds);
  });

  it('a member cannot open a request that requires a permission its role lacks (BA005, nothing runs)', async () => {
    let ran = false;
    const attempt = withPrincipal(app, a.session, a.orgId, async () => {
      ran = true;
    }, ['task:view', 'team:manage']);
    expect(await refusal(attempt)).toBe('BA005');
    expect(ran).toBe(false);
    // The connection carries nothing of the refused request into the next one.
    expect((await app.query(ALL_VISIBLE.with([]))).rows).toEqual([]);
  });

  it('a requirement cannot be met by a crafted permission name, nor asked without an org', async () => {
    expect(await refusal(visible(a, ['']))).toBe('BA005');
    expect(await refusal(visible(a, [',']))).toBe('BA005');
    const noOrg = withPrincipal(app, a.session, null, async () => 'ran', ['task:view']);
    expect(await refusal(noOrg)).toBe('BA005');
  });

  it('an agent cannot open a request with a human permission requirement', async () => {
    const agentId = randomUUID();
    const sessionId = randomUUID();
    const proof = sessionProof(KEY, sessionId);
    const { rows } = await admin.query<{ user_id: string }>(`select user_id from authz.memberships where org_id = $1`, [a.orgId]);
    await admin.query(`insert into authz.agents (id, org_id, name, created_by) values ($1, $2, 'requirement test agent', $3)`, [
      agentId,
      a.orgId,
      rows[0]!.user_id,
    ]);
    await admin.query(
      `insert into authz.sessions (id, principal_type, principal_id, org_id, rotated_at, amr, proof_hash, created_at,
                                   idle_expires_at, absolute_expires_at)
       values ($1, 'agent', $2, $3, now(), '{agent_key}', $4, now(), now() + interval '1 hour', now() + interval '1 day')`,
      [sessionId, agentId, a.orgId, createHash('sha256').update(proof).digest()],
    );
    const agent: Member = { orgId: a.orgId, session: { sessionId, proof }, taskIds: [] };
    expect(await refusal(visible(agent, ['task:view']))).toBe('BA005');
    expect(await refusal(visible(agent, []))).toBe('admitted');
  });
});

describe('prepared', () => {
  it('should refuse a statement name already used for another text', () => {
    const name = `test.${randomUUID()}`;
    prepared(name, 'select 1');
    expect(() => prepared(name, 'select 1')).not.toThrow();
    expect(() => prepared(name, 'select 2')).toThrow(/already defined/);
  });
});
