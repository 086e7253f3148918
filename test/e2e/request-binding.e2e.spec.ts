/**
 * The request's binding (migration 0022, SECURITY.md "The request's database session"): authz.begin proves a
 * session, reads the principal's permissions in the org once, and binds session, principal, type, org and
 * permissions to the transaction with an HMAC under a key that lives in the backend for one request (the currval of
 * an unlogged sequence bastion_app cannot touch). Every test here is an attack by SQL running as bastion_app, as
 * injected SQL would: it holds everything the app role can read, and must still act only as the principal whose
 * request it rides in.
 */
import type { Pool, PoolClient } from 'pg';
import { inTransaction } from '../../libs/infra/src/database/transaction';
import { withoutPrincipal, withPrincipal } from '../../libs/infra/src/database/with-principal';
import { type TestApi, startTestApi } from '../support/api';
import { closePools, poolFor, type TestDatabase, workerDatabase } from '../support/database';
import { call } from '../support/http';
import { type SignedIn, sessionCredentials } from '../support/identity';
import { addMember, newOrg, type OrgFixture } from '../support/orgs';
import { TestProjector } from '../support/projector';
import { dropPrefix } from '../support/redis';

let db: TestDatabase;
let api: TestApi;
let admin: Pool;
let projector: TestProjector;
let a: OrgFixture;
let b: OrgFixture;

beforeAll(async () => {
  db = await workerDatabase();
  api = await startTestApi(db);
  admin = poolFor(db.adminUrl);
  projector = new TestProjector(db);
  a = await newOrg(api, 'A');
  b = await newOrg(api, 'B');
  for (const org of [a, b]) {
    await call(api, 'POST', `/v1/orgs/${org.orgId}/tasks`, { token: org.admin.accessToken, body: { title: `task of ${org.orgId}` } });
  }
  await projector.catchUp();
});
afterAll(async () => {
  await api?.close();
  await closePools();
  if (api) await dropPrefix(api.redisPrefix);
});

function credentialsOf(user: SignedIn) {
  return sessionCredentials(api, user.accessToken);
}

/** A connection pool of one: every transaction below runs on the same backend, where a replay would have to work. */
function oneConnection(): Pool {
  return poolFor(db.urlFor('bastion_app'), 1);
}

const SETTINGS = ['session_id', 'principal_id', 'principal_type', 'org_id', 'permissions', 'binding'] as const;
type Captured = Record<(typeof SETTINGS)[number], string>;

/** Everything authz.begin set that the app role can read: what injected SQL would exfiltrate. */
async function capture(tx: PoolClient): Promise<Captured> {
  const { rows } = await tx.query(`select ${SETTINGS.map((s) => `current_setting('bastion.${s}', true) as ${s}`).join(', ')}`);
  return rows[0] as Captured;
}

async function replay(tx: PoolClient, captured: Captured): Promise<void> {
  for (const s of SETTINGS) await tx.query('select set_config($1, $2, true)', [`bastion.${s}`, captured[s]]);
}

/** What the replayed settings reach: the org A as seen by a policy, and A's tasks. */
async function reach(tx: PoolClient): Promise<{ org: string | null; tasks: number }> {
  const { rows } = await tx.query(
    "select authz.current_org_if('task:view') as org, (select count(*)::int from tasks where org_id = $1) as tasks",
    [a.orgId],
  );
  return rows[0];
}

async function capturedFromA(pool: Pool): Promise<Captured> {
  return withPrincipal(pool, credentialsOf(a.admin), a.orgId, async (tx) => {
    expect(await reach(tx)).toEqual({ org: a.orgId, tasks: 1 });
    return capture(tx);
  });
}

describe('a binding verifies only in the request that made it', () => {
  it('a principal’s binding replayed in a later anonymous transaction on the same connection reaches nothing', async () => {
    const pool = oneConnection();
    const captured = await capturedFromA(pool);
    const seen = await withoutPrincipal(pool, async (tx) => {
      await replay(tx, captured);
      return reach(tx);
    });
    expect(seen).toEqual({ org: null, tasks: 0 });
  });

  it('a principal’s binding replayed in another principal’s later request on the same connection reaches nothing of its org', async () => {
    const pool = oneConnection();
    const captured = await capturedFromA(pool);
    const seen = await withPrincipal(pool, credentialsOf(b.admin), b.orgId, async (tx) => {
      await replay(tx, captured);
      return reach(tx);
    });
    expect(seen).toEqual({ org: null, tasks: 0 });
  });

  it('a binding replayed in a transaction opened without any helper on the same connection reaches nothing', async () => {
    const pool = oneConnection();
    const captured = await capturedFromA(pool);
    const seen = await inTransaction(pool, async (tx) => {
      await replay(tx, captured);
      return reach(tx);
    });
    expect(seen).toEqual({ org: null, tasks: 0 });
  });

  it('injected SQL that commits and opens its own transaction inside a request cannot carry the binding into it', async () => {
    const pool = oneConnection();
    const client = await pool.connect();
    try {
      await client.query('begin');
      await client.query('select authz.begin($1, $2, $3)', [credentialsOf(a.admin).sessionId, credentialsOf(a.admin).proof, a.orgId]);
      const captured = await capture(client);
      // One simple-protocol query, as an injection into unparameterised SQL could send it.
      await client.query('commit; begin');
      await replay(client, captured);
      expect(await reach(client)).toEqual({ org: null, tasks: 0 });
      await client.query('commit');
    } finally {
      client.release();
    }
  });

  it('a binding copied to a connection that never ran authz.begin is refused, not honoured', async () => {
    const captured = await capturedFromA(oneConnection());
    const fresh = poolFor(db.urlFor('bastion_app'), 1);
    const outcome = await inTransaction(fresh, async (tx) => {
      await replay(tx, captured);
      return reach(tx);
    }).catch((error: { code?: string }) => error.code);
    // No request key was ever drawn there: currval refuses (55000), which fails the statement.
    expect(outcome).toBe('55000');
  });

  it('a forged permission list is not honoured: a viewer cannot grant itself team:manage', async () => {
    const viewer = await addMember(api, a, 'viewer');
    const result = await withPrincipal(oneConnection(), credentialsOf(viewer), a.orgId, async (tx) => {
      const before = (await tx.query("select authz.current_org_if('task:view') as view, authz.current_org_if('team:manage') as manage")).rows[0];
      const list = (await capture(tx)).permissions;
      await tx.query("select set_config('bastion.permissions', $1, true)", [`${list}team:manage,`]);
      const after = (await tx.query("select authz.current_org_if('task:view') as view, authz.current_org_if('team:manage') as manage")).rows[0];
      return { before, after };
    });
    expect(result.before).toEqual({ view: a.orgId, manage: null });
    expect(result.after).toEqual({ view: null, manage: null });
  });
});

/**
 * The ways a plan or a message could spell a 64-bit key: in decimal, in hex, and as PostgreSQL prints a constant's
 * bytes in a plan tree (signed decimals, little-endian for an int8 datum, big-endian once int8send has made it bytea).
 */
function spellingsOf(key: string): string[] {
  const le = Buffer.alloc(8);
  le.writeBigInt64LE(BigInt(key));
  const be = Buffer.from(le).reverse();
  const signed = (b: Buffer) => [...b].map((x) => (x > 127 ? x - 256 : x)).join(' ');
  return [key, be.toString('hex'), signed(le), signed(be)];
}

describe('the request key is out of the app role’s reach', () => {
  it('bastion_app can neither read nor set the request key', async () => {
    const pool = oneConnection();
    await withPrincipal(pool, credentialsOf(a.admin), a.orgId, async (tx) => {
      for (const sql of [
        "select currval('authz.request_key')",
        "select setval('authz.request_key', 1)",
        "select nextval('authz.request_key')",
        "select pg_sequence_last_value('authz.request_key')",
        'select last_value from authz.request_key',
      ]) {
        await tx.query('savepoint s');
        await expect(tx.query(sql)).rejects.toMatchObject({ code: '42501' });
        await tx.query('rollback to savepoint s');
      }
      const listed = await tx.query("select last_value from pg_sequences where schemaname = 'authz' and sequencename = 'request_key'");
      expect(listed.rows).toEqual([{ last_value: null }]);
    });
  });

  it('no plan, notice or message the app can ask for shows the request key', async () => {
    const pool = oneConnection();
    const client = await pool.connect();
    const notices: string[] = [];
    client.on('notice', (n) => notices.push(`${n.message ?? ''} ${n.detail ?? ''}`));
    try {
      await client.query("set debug_print_plan = on; set debug_print_parse = on; set debug_print_rewritten = on; set client_min_messages = 'debug5'");
      await client.query('begin');
      await client.query('select authz.begin($1, $2, $3)', [credentialsOf(a.admin).sessionId, credentialsOf(a.admin).proof, a.orgId]);
      // The superuser reads the key this backend has just drawn: the sequence's last value, set by this setval.
      const key = (await admin.query("select pg_sequence_last_value('authz.request_key')::text as key")).rows[0].key as string;
      expect(key).toMatch(/^-?\d+$/);
      await client.query('select * from tasks where org_id = $1', [a.orgId]);
      await client.query("select authz.current_org_if('task:view'), authz.current_principal()");
      await client.query('commit');
      expect(notices.length).toBeGreaterThan(0);
      expect(notices.filter((n) => spellingsOf(key).some((k) => n.includes(k)))).toEqual([]);
    } finally {
      await client.query("reset debug_print_plan; reset debug_print_parse; reset debug_print_rewritten; reset client_min_messages");
      client.release();
    }
  });
});

describe('permissions are proven once per request', () => {
  it('a role change takes effect at the principal’s next request, and a removal stops it there', async () => {
    const org = await newOrg(api, 'C');
    const member = await addMember(api, org, 'member');
    const holds = () =>
      withPrincipal(oneConnection(), credentialsOf(member), org.orgId, async (tx) =>
        (await tx.query("select authz.current_org_if('task:create') as create, authz.current_org_if('task:view') as view")).rows[0],
      );
    expect(await holds()).toEqual({ create: org.orgId, view: org.orgId });
    await admin.query("update authz.memberships set role = 'viewer' where org_id = $1 and user_id = $2", [org.orgId, member.userId]);
    expect(await holds()).toEqual({ create: null, view: org.orgId });
    await admin.query('delete from authz.memberships where org_id = $1 and user_id = $2', [org.orgId, member.userId]);
    await expect(holds()).rejects.toMatchObject({ code: 'BA004' });
  });

  it('the bound permission lists are the catalogue’s, and follow a change of the matrix', async () => {
    const { rows } = await admin.query(
      `select r.role, authz.role_permission_list(r.role) as list,
              ',' || string_agg(rp.permission, ',' order by rp.permission) || ',' as expected
         from (select distinct role from authz.role_permissions) r join authz.role_permissions rp using (role) group by r.role`,
    );
    expect(rows.length).toBe(4);
    for (const row of rows) expect(row.list).toBe(row.expected);
    const client = await admin.connect();
    try {
      await client.query('begin');
      await client.query("delete from authz.role_permissions where role = 'viewer' and permission = 'task:view'");
      const changed = (await client.query("select authz.role_permission_list('viewer') as list")).rows[0].list as string;
      expect(changed).not.toContain(',task:view,');
      await client.query('rollback');
    } finally {
      client.release();
    }
    expect((await admin.query("select authz.role_permission_list('viewer') as list")).rows[0].list).toContain(',task:view,');
  });
});

describe('what SQL in a request leaves on its connection', () => {
  /** Advisory locks held by the backend of a pool of one, as the superuser sees them. */
  async function advisoryLocksOf(pool: Pool): Promise<number> {
    const pid = (await pool.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
    return (await admin.query("select count(*)::int as n from pg_locks where locktype = 'advisory' and pid = $1", [pid])).rows[0].n;
  }
  const STALL_A_STREAM = "select pg_advisory_lock(736155203, hashtext('user-' || gen_random_uuid()))";

  it('a session-level advisory lock taken in a request dies with it, committed, failed or anonymous', async () => {
    const pool = oneConnection();
    await withPrincipal(pool, credentialsOf(a.admin), a.orgId, (tx) => tx.query(STALL_A_STREAM));
    expect(await advisoryLocksOf(pool)).toBe(0);
    await expect(
      withPrincipal(pool, credentialsOf(a.admin), a.orgId, async (tx) => {
        await tx.query(STALL_A_STREAM);
        throw new Error('the request fails after its SQL ran');
      }),
    ).rejects.toThrow('the request fails');
    expect(await advisoryLocksOf(pool)).toBe(0);
    await withoutPrincipal(pool, (tx) => tx.query(STALL_A_STREAM));
    expect(await advisoryLocksOf(pool)).toBe(0);
  });
});
