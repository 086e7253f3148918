/**
 * Row-Level Security benchmark (docs/performance.md, "Row-Level Security").
 *
 *   npm run bench:rls
 *   npx swc apps libs bench -d dist --quiet && node dist/bench/rls.bench.js
 *
 * On a fresh database (`bastion_bench_rls_<random>`: cluster roles bootstrapped, migrations applied, dropped at the
 * end, also on failure or Ctrl-C) it loads 1,000,000 rows into the `tasks` read model across 1,000 organisations,
 * gives each of them one member with a live session, of which a sample make the requests (rows in `authz.users`,
 * `authz.organizations`, `authz.memberships`, `authz.sessions`; the session's `proof_hash` is the SHA-256 of
 * `sessionProof(key, id)` under a key the benchmark holds), and measures "the latest 50 tasks of my organisation" at
 * concurrency 8:
 *
 * - (a) `rls`: the real request helper — `withPrincipal(pool, session, org, …, ['task:view'])` as `bastion_app`, as
 *   the API's task read routes call it: begin, `authz.begin(session, proof, org, required)`, the query under the
 *   `tasks_read` policy, commit;
 * - (b) `limit`: the same transaction shape without RLS — begin, the same six `set_config(…, true)` calls in one
 *   statement (authz.begin's round trip without its checks), the query, commit — as `bastion_projector`
 *   (BYPASSRLS, SELECT on tasks), through `inTransaction` (the helper's own transaction code);
 * - (c) `autocommit`: the query alone, one statement, as `bastion_projector`.
 *
 * All three issue their statements named (`prepared`: parsed once per connection, plan kept by PostgreSQL), as
 * withPrincipal issues authz.begin and the API's hot read routes issue their queries.
 *
 * Experiments (`x:` rows; BENCH_EXPERIMENTS=0 skips them), in the same rounds:
 * - `x: authz.begin, no policy`: the real authz.begin in the same transaction shape, as the superuser login (which
 *   bypasses RLS even on FORCE'd tables): splits (a)'s cost into authz.begin's and the policies';
 * - `x: (a), statements unnamed` and `x: (b), statements unnamed`: (a) and (b) with the same SQL unnamed (parsed,
 *   rewritten and planned on every request), as before the statements were named.
 * - `x: (a), structure only` (after everything else, since it replaces two functions of the throwaway database):
 *   authz.begin and current_org_if cut down to the structure the design prescribes (a definer function with one
 *   session query a request, a definer policy function a statement) with every check taken out, against (b) in more
 *   rounds: the most any verified-principal scheme of this structure could reach, beside what (a) reaches.
 * The earlier experiments, and what they found, are recorded in docs/performance.md.
 *
 * Every variant also reports CPU a request: the server's (every `postgres` process on this machine, from
 * /proc/<pid>/schedstat; shown only when the server runs here) and the client's (this process). The client shares
 * the machine's two cores with the server, so the throughput ratio is the ratio of their sum; the server CPU ratio
 * is the comparison as a database serving many API hosts would see it.
 *
 * Before any timing, a sanity check proves the migrated database sound: a member sees its org's latest 50 (the same
 * rows as the direct query), another org's and no principal's nothing, the agent exactly the 3 tasks assigned to it
 * (also when it forges a human principal type), authz.begin into another org fails with BA004, and on one connection
 * the named query's cached plan shows two orgs' members in turn and the agent only their own rows, no principal none.
 *
 * The machine is shared, so the variants run in time slices of BENCH_SLICE_MS on warmed-up pools of 8 connections,
 * in mirrored order within a round (A B C C B A, reversed in odd rounds), and every ratio is the median of the
 * per-round ratios. Then, diagnostics: how many generic and custom plans PostgreSQL made for each named statement,
 * the plan (`EXPLAIN (ANALYZE, BUFFERS)` inside a real authz.begin transaction; also the generic plan, forced),
 * a per-round-trip latency breakdown at concurrency 1 (the variants interleaved request by request), and the
 * `authz` functions' own times and calls per request from `pg_stat_user_functions` (track_functions = all, for this
 * database only, in a phase of its own so the timing overhead stays out of the figures above).
 *
 * Knobs (environment): BENCH_DATABASE_URL (a superuser login; default DATABASE_URL, then
 * postgres://postgres@127.0.0.1:5432/postgres), BENCH_ROWS (default 1000000), BENCH_SAMPLE_ORGS (orgs with a
 * session, default 100), BENCH_ROUNDS (default 5), BENCH_SLICE_MS (default 2000: each variant runs two slices a
 * round), BENCH_BREAKDOWN (requests per variant at concurrency 1, default 1000), BENCH_EXPERIMENTS=0.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Client, Pool } from 'pg';
import { bootstrapRoles } from '../libs/infra/src/database/bootstrap-roles';
import { migrate } from '../libs/infra/src/database/migrate';
import { prepared } from '../libs/infra/src/database/prepared-statement';
import { redactUrl, roleUrl, withDatabase } from '../libs/infra/src/database/role-urls';
import { inTransaction } from '../libs/infra/src/database/transaction';
import { RELEASE_SESSION_LOCKS, type SessionCredentials, withPrincipal } from '../libs/infra/src/database/with-principal';
import { sessionProof } from '../libs/infra/src/identity/session-proof';
import { ROLE_PERMISSIONS, type Role } from '../libs/domain/src/authorization/permissions';
import { processCpuMs, serverFacts, withClient } from './bench-support';

// ---------------------------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------------------------

const ADMIN_URL =
  process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
/** At least 50 tasks an org: every request must return 50 rows. */
const ROWS = Math.max(50 * 1000, Number(process.env.BENCH_ROWS ?? 1_000_000));
const ORGS = 1000;
const SAMPLE_ORGS = Math.min(ORGS, Math.max(1, Number(process.env.BENCH_SAMPLE_ORGS ?? 100)));
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 5));
const SLICE_MS = Math.max(200, Number(process.env.BENCH_SLICE_MS ?? 2000));
const BREAKDOWN = Math.max(10, Number(process.env.BENCH_BREAKDOWN ?? 1000));
const EXPERIMENTS = process.env.BENCH_EXPERIMENTS !== '0';
const CONCURRENCY = 8;
const WARMUP_MS = 1000;

const LATEST_TASKS = 'select * from tasks where org_id = $1 order by updated_at desc limit 50';

/** How withPrincipal ends every transaction (releasing session-level advisory locks): (b) and the experiments too. */
const API_SHAPE = { alsoAtEnd: RELEASE_SESSION_LOCKS } as const;

/** A stand-in for the permission set authz.begin binds (`,a,b,…,`): the role's, as long as the real one. */
function boundPermissions(role: Role): string {
  return `,${[...ROLE_PERMISSIONS[role]].sort().join(',')},`;
}

/** What authz.begin sets, as plain settings: its round trip and its set_config calls, without its checks. */
const SET_CONFIG = `select set_config('bastion.session_id', $1, true), set_config('bastion.principal_id', $2, true),
  set_config('bastion.principal_type', 'human', true), set_config('bastion.org_id', $3, true),
  set_config('bastion.permissions', '${boundPermissions('member')}', true), set_config('bastion.binding', $4, true)`;

/**
 * (a), (b) and (c) issue every statement the same way: named (`prepared`), as withPrincipal issues authz.begin and
 * as the API's hot read routes issue their queries; node-pg parses each once per connection and PostgreSQL keeps the
 * plan. The `statements unnamed` experiments issue the same SQL unnamed, as everything was before.
 */
const LATEST = prepared('bench.latest-tasks', LATEST_TASKS);
const SET_CONFIG_NAMED = prepared('bench.set-config', SET_CONFIG);
const AUTHZ_BEGIN_SQL = 'select authz.begin($1, $2, $3)';
const AUTHZ_BEGIN = prepared('bench.authz-begin', AUTHZ_BEGIN_SQL);

// ---------------------------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------------------------

interface Principal {
  readonly orgId: string;
  readonly userId: string;
  readonly session: SessionCredentials;
  /** A stand-in for the binding authz.begin would set: 64 hex characters, like the real one. */
  readonly fakeBinding: string;
}

/** The key the API would derive session proofs with; the database keeps only SHA-256 of each proof. */
const PROOF_KEY = randomBytes(32);

type Variant =
  | 'rls'
  | 'limit'
  | 'autocommit'
  | 'x: authz.begin, no policy'
  | 'x: (a), statements unnamed'
  | 'x: (b), statements unnamed'
  | 'x: (a), structure only';
const LABEL: Record<Variant, string> = {
  rls: '(a) withPrincipal, RLS (bastion_app)',
  limit: '(b) same transaction, no RLS (bastion_projector)',
  autocommit: '(c) autocommit query (bastion_projector)',
  'x: authz.begin, no policy': 'x: authz.begin, no policy (superuser)',
  'x: (a), statements unnamed': 'x: (a) with unnamed statements (parsed and planned every time, as before)',
  'x: (b), statements unnamed': 'x: (b) with unnamed statements (parsed and planned every time, as before)',
  'x: (a), structure only': 'x: (a) with authz.begin and current_org_if cut down to their structure (checks nothing: never a design)',
};

// ---------------------------------------------------------------------------------------------------------------
// Variants
// ---------------------------------------------------------------------------------------------------------------

interface Pools {
  readonly app: Pool;
  readonly projector: Pool;
  readonly admin: Pool | null;
}

type Op = (p: Principal) => Promise<number>;

function ops(pools: Pools): Map<Variant, Op> {
  const m = new Map<Variant, Op>();
  // As the API's task read routes call it: with the permission the route declares (@Requires('task:view', …)).
  m.set('rls', async (p) =>
    withPrincipal(pools.app, p.session, p.orgId, async (tx) => (await tx.query(LATEST.with([p.orgId]))).rowCount ?? 0, ['task:view']),
  );
  m.set('limit', async (p) =>
    inTransaction(
      pools.projector,
      async (tx) => {
        await tx.query(SET_CONFIG_NAMED.with([p.session.sessionId, p.userId, p.orgId, p.fakeBinding]));
        return (await tx.query(LATEST.with([p.orgId]))).rowCount ?? 0;
      },
      API_SHAPE,
    ),
  );
  m.set('autocommit', async (p) => (await pools.projector.query(LATEST.with([p.orgId]))).rowCount ?? 0);
  if (pools.admin) {
    const admin = pools.admin;
    m.set('x: authz.begin, no policy', async (p) =>
      inTransaction(
        admin,
        async (tx) => {
          await tx.query(AUTHZ_BEGIN.with([p.session.sessionId, p.session.proof, p.orgId]));
          return (await tx.query(LATEST.with([p.orgId]))).rowCount ?? 0;
        },
        API_SHAPE,
      ),
    );
    // (a) and (b) as they were before the statements were named: the same helpers' transaction code, unnamed SQL.
    m.set('x: (a), statements unnamed', async (p) =>
      inTransaction(
        pools.app,
        async (tx) => (await tx.query(LATEST_TASKS, [p.orgId])).rowCount ?? 0,
        {
          ...API_SHAPE,
          first: async (tx) => {
            await tx.query(AUTHZ_BEGIN_SQL, [p.session.sessionId, p.session.proof, p.orgId]);
          },
        },
      ),
    );
    m.set('x: (b), statements unnamed', async (p) =>
      inTransaction(
        pools.projector,
        async (tx) => {
          await tx.query(SET_CONFIG, [p.session.sessionId, p.userId, p.orgId, p.fakeBinding]);
          return (await tx.query(LATEST_TASKS, [p.orgId])).rowCount ?? 0;
        },
        API_SHAPE,
      ),
    );
  }
  return m;
}

// ---------------------------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------------------------

interface Slice {
  readonly queries: number;
  readonly ms: number;
  readonly latencies: number[];
  /** CPU time of every PostgreSQL process on this machine during the slice (null when none is visible here). */
  readonly serverCpuMs: number | null;
  /** CPU time of this process (the client: node-pg, the helpers) during the slice. */
  readonly clientCpuMs: number;
}

const qps = (s: Slice) => (s.queries / s.ms) * 1000;

function addSlices(a: Slice, b: Slice): Slice {
  return {
    queries: a.queries + b.queries,
    ms: a.ms + b.ms,
    latencies: a.latencies.concat(b.latencies),
    serverCpuMs: a.serverCpuMs === null || b.serverCpuMs === null ? null : a.serverCpuMs + b.serverCpuMs,
    clientCpuMs: a.clientCpuMs + b.clientCpuMs,
  };
}

/** Server and client CPU µs per request over some slices (server null when the server is not on this machine). */
function cpuPerRequest(slices: readonly Slice[]): { server: number | null; client: number } {
  const queries = slices.reduce((n, s) => n + s.queries, 0);
  const server = slices.some((s) => s.serverCpuMs === null) ? null : slices.reduce((n, s) => n + s.serverCpuMs!, 0);
  return {
    server: server === null || server === 0 ? null : (server * 1000) / queries,
    client: (slices.reduce((n, s) => n + s.clientCpuMs, 0) * 1000) / queries,
  };
}

/**
 * CPU milliseconds used so far by every process named `postgres` on this machine (the server's backends and its
 * background processes), from /proc/<pid>/schedstat (nanoseconds on CPU). Null where /proc is not Linux's. Reads
 * 0 when the server runs elsewhere; then the server column says so.
 */
function serverCpuMs(): number | null {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return null;
  }
  let ms = 0;
  for (const pid of pids) {
    let comm: string;
    try {
      comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    } catch {
      continue; // the process ended between the listing and the read
    }
    if (comm === 'postgres') ms += processCpuMs(pid) ?? 0;
  }
  return ms;
}

function pick<T>(items: readonly T[]): T {
  return items[Math.floor(Math.random() * items.length)]!;
}

/** CONCURRENCY workers each run `op` back to back until `ms` have passed; every op must return 50 rows. */
async function runSlice(op: Op, principals: readonly Principal[], ms: number): Promise<Slice> {
  const latencies: number[] = [];
  const server0 = serverCpuMs();
  const client0 = process.cpuUsage();
  const started = performance.now();
  const deadline = started + ms;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        const rows = await op(pick(principals));
        latencies.push(performance.now() - t0);
        if (rows !== 50) throw new Error(`expected 50 rows, got ${rows}`);
      }
    }),
  );
  const elapsed = performance.now() - started;
  const client = process.cpuUsage(client0);
  const server1 = serverCpuMs();
  return {
    queries: latencies.length,
    ms: elapsed,
    latencies,
    serverCpuMs: server0 === null || server1 === null ? null : server1 - server0,
    clientCpuMs: (client.user + client.system) / 1000,
  };
}

/**
 * ROUNDS rounds after a warm-up slice each; in a round every variant runs two slices of SLICE_MS, in mirrored order
 * (A B C C B A, reversed in odd rounds), so drift in the machine's load falls on all of them alike. Prints a line a
 * round (`describe` adds its ratios); returns each variant's slices, one per round.
 */
async function runRounds(
  variants: ReadonlyMap<Variant, Op>,
  principals: readonly Principal[],
  describe: (queriesPerSecond: (name: Variant) => number) => string,
): Promise<Map<Variant, Slice[]>> {
  const names = [...variants.keys()];
  for (const name of names) await runSlice(variants.get(name)!, principals, WARMUP_MS);
  const results = new Map<Variant, Slice[]>(names.map((n) => [n, []]));
  for (let round = 0; round < ROUNDS; round += 1) {
    const forward = round % 2 === 0 ? names : [...names].reverse();
    const perRound = new Map<Variant, Slice>();
    for (const name of [...forward, ...[...forward].reverse()]) {
      const s = await runSlice(variants.get(name)!, principals, SLICE_MS);
      const prev = perRound.get(name);
      perRound.set(name, prev ? addSlices(prev, s) : s);
    }
    for (const [name, s] of perRound) results.get(name)!.push(s);
    const r = (n: Variant) => qps(perRound.get(n)!);
    console.log(`round ${round + 1}: ${names.map((n) => `${n} ${fmt(r(n))}/s`).join(', ')} — ${describe(r)} (load ${load()})`);
  }
  return results;
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const fmt = (v: number, digits = 0) => v.toLocaleString('en', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const fmtMs = (v: number) => v.toFixed(2);
const fmtRatio = (v: number) => `${v.toFixed(2)}×`;
const load = () => loadavg().map((l) => l.toFixed(1)).join(' ');

/** The variants' throughput, latency and CPU a request, as a Markdown table. */
function variantTable(results: ReadonlyMap<Variant, Slice[]>, names: readonly Variant[]): string[] {
  const lines = [
    `| variant (c=${CONCURRENCY}) | queries/s (median of ${ROUNDS} rounds) | p50 ms | p99 ms | server CPU µs a request | client CPU µs a request |`,
    '|---|---:|---:|---:|---:|---:|',
  ];
  for (const name of names) {
    const slices = results.get(name)!;
    const all = slices.flatMap((s) => s.latencies).sort((a, b) => a - b);
    const cpu = cpuPerRequest(slices);
    lines.push(
      `| ${LABEL[name]} | ${fmt(median(slices.map(qps)))} | ${fmtMs(quantile(all, 0.5))} | ${fmtMs(quantile(all, 0.99))} | ` +
        `${cpu.server === null ? '— (not on this machine)' : fmt(cpu.server)} | ${fmt(cpu.client)} |`,
    );
  }
  return lines;
}

function ratioRow(label: string, perRound: readonly number[]): string {
  return `| ${label} | ${fmtRatio(median(perRound))} | ${perRound.map((v) => v.toFixed(2)).join(' ')} |`;
}

/** Per round, x's server CPU a request over y's; null when the server's CPU is not visible from here. */
function perRoundServerRatio(results: ReadonlyMap<Variant, Slice[]>, x: Variant, y: Variant): number[] | null {
  const ratios = results.get(x)!.map((s, i) => {
    const [sx, sy] = [cpuPerRequest([s]).server, cpuPerRequest([results.get(y)![i]!]).server];
    return sx === null || sy === null ? NaN : sx / sy;
  });
  return ratios.some(Number.isNaN) ? null : ratios;
}

// ---------------------------------------------------------------------------------------------------------------
// Database set-up and clean-up
// ---------------------------------------------------------------------------------------------------------------


let createdDatabase: string | null = null;
let interrupted = false;

async function createDatabase(name: string): Promise<string> {
  if (!/^bastion_bench_rls_[a-z0-9]+$/.test(name)) throw new Error(`Refusing to create ${name}`);
  createdDatabase = name;
  await withClient(ADMIN_URL, (c) => c.query(`create database ${name}`));
  return withDatabase(ADMIN_URL, name);
}

async function dropDatabase(): Promise<void> {
  const name = createdDatabase;
  createdDatabase = null;
  if (!name) return;
  try {
    await withClient(ADMIN_URL, (c) => c.query(`drop database if exists ${name} with (force)`));
    console.log(`dropped database ${name}`);
  } catch (error) {
    console.error(`could not drop database ${name}: ${(error as Error).message}`);
  }
}

function openPool(url: string, max: number): Pool {
  // Connections stay open between slices: no variant pays for a reconnect.
  const pool = new Pool({ connectionString: url, max, idleTimeoutMillis: 0 });
  pool.on('error', (error) => {
    if (!interrupted) console.error(`idle connection error: ${error.message}`);
  });
  return pool;
}

/**
 * 1,000 organisations; ROWS tasks over two years, inserted in creation order (organisations interleaved, as a live
 * projector would write them). Most tasks are last updated soon after creation, some much later (updated_at =
 * created_at + (now − created_at)·u⁴), so an org's latest 50 by updated_at are spread over the heap.
 */
async function load1M(adminUrl: string): Promise<{ principals: Principal[]; agent: Principal }> {
  return withClient(adminUrl, async (c) => {
    await c.query(`set maintenance_work_mem = '256MB'`);
    await c.query(`set work_mem = '256MB'`);
    await c.query(`create temporary table bench_orgs as
                     select n, gen_random_uuid() as org_id from generate_series(0, ${ORGS - 1}) as n`);
    await c.query(`insert into authz.organizations (org_id, created_at)
                     select org_id, now() - interval '3 years' from bench_orgs`);
    let t = performance.now();
    await c.query(
      `insert into tasks (org_id, task_id, title, description, status, position, assignee_type, assignee_id,
                          created_by, created_at, updated_at)
       select o.org_id, gen_random_uuid(), 'Task ' || g || ': make the payment retries idempotent',
              repeat(md5(g::text), 6), (array['todo', 'in_progress', 'review', 'done'])[1 + g % 4], g / ${ORGS},
              case g % 3 when 0 then 'agent' when 1 then 'human' end,
              case when g % 3 < 2 then gen_random_uuid() end, o.org_id, c.created_at,
              c.created_at + (now() - c.created_at) * power(random(), 4)
         from generate_series(1, $1::int) as g
         join bench_orgs o on o.n = g % ${ORGS}
         cross join lateral (select now() - interval '730 days' * (1 - g::float8 / $1) - random() * interval '1 hour'
                               as created_at) c
        order by g`,
      [ROWS],
    );
    console.log(`loaded ${fmt(ROWS)} tasks in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    t = performance.now();
    await c.query('vacuum (analyze) tasks');
    console.log(`vacuum analyze in ${((performance.now() - t) / 1000).toFixed(1)} s`);

    // One member with a live session in every organisation (so authz.memberships and authz.sessions have as many
    // rows as there are orgs, and their lookups plan as in production: by index); the timed requests use the
    // first SAMPLE_ORGS of them.
    const { rows: orgs } = await c.query<{ org_id: string }>('select org_id from bench_orgs order by n');
    const everyone: Principal[] = orgs.map(({ org_id }) => {
      const sessionId = randomUUID();
      return {
        orgId: org_id,
        userId: randomUUID(),
        session: { sessionId, proof: sessionProof(PROOF_KEY, sessionId) },
        fakeBinding: randomBytes(32).toString('hex'),
      };
    });
    const principals = everyone.slice(0, SAMPLE_ORGS);
    const ids = everyone.map((p) => p.userId);
    await c.query(
      `insert into authz.users (id, email, email_normalized, display_name, email_verified_at, created_at)
       select u, 'bench-' || u || '@example.test', 'bench-' || u || '@example.test', 'Bench member', now(), now()
         from unnest($1::uuid[]) as u`,
      [ids],
    );
    await c.query(
      `insert into authz.memberships (org_id, user_id, role) select o, u, 'member' from unnest($1::uuid[], $2::uuid[]) as t(o, u)`,
      [everyone.map((p) => p.orgId), ids],
    );
    await c.query(
      `insert into authz.sessions (id, principal_type, principal_id, rotated_at, amr, proof_hash, created_at,
                                   idle_expires_at, absolute_expires_at)
       select s, 'human', u, now(), '{pwd}', h, now(), now() + interval '1 day', now() + interval '7 days'
         from unnest($1::uuid[], $2::uuid[], $3::bytea[]) as t(s, u, h)`,
      [
        everyone.map((p) => p.session.sessionId),
        ids,
        everyone.map((p) => createHash('sha256').update(p.session.proof).digest()),
      ],
    );
    // An agent of the first sampled org with a session, and three of that org's tasks assigned to it: the sanity
    // check proves that the agent sees exactly those three.
    const owner = principals[0]!;
    const agentSessionId = randomUUID();
    const agent: Principal = {
      orgId: owner.orgId,
      userId: randomUUID(),
      session: { sessionId: agentSessionId, proof: sessionProof(PROOF_KEY, agentSessionId) },
      fakeBinding: randomBytes(32).toString('hex'),
    };
    await c.query(`insert into authz.agents (id, org_id, name, created_by) values ($1, $2, 'bench agent', $3)`, [
      agent.userId,
      agent.orgId,
      owner.userId,
    ]);
    await c.query(
      `insert into authz.sessions (id, principal_type, principal_id, org_id, rotated_at, amr, proof_hash, created_at,
                                   idle_expires_at, absolute_expires_at)
       values ($1, 'agent', $2, $3, now(), '{agent_key}', $4, now(), now() + interval '1 day', now() + interval '7 days')`,
      [agent.session.sessionId, agent.userId, agent.orgId, createHash('sha256').update(agent.session.proof).digest()],
    );
    await c.query(
      `update tasks set assignee_type = 'agent', assignee_id = $1
        where (org_id, task_id) in (select org_id, task_id from tasks where org_id = $2 order by updated_at desc offset 10 limit 3)`,
      [agent.userId, agent.orgId],
    );
    await c.query('analyze authz.users, authz.memberships, authz.sessions, authz.organizations, authz.agents');
    const size = await c.query<{ heap: string; idx: string }>(
      `select pg_size_pretty(pg_table_size('tasks')) as heap, pg_size_pretty(pg_indexes_size('tasks')) as idx`,
    );
    console.log(`tasks: ${size.rows[0]!.heap} heap, ${size.rows[0]!.idx} indexes; ${principals.length} orgs with a member session`);
    return { principals, agent };
  });
}

/**
 * Before any timing, on the database as migrated: withPrincipal returns the same 50 rows as the direct query,
 * nothing of another org, nothing without authz.begin, and to the agent exactly the three tasks assigned to it.
 */
async function sanityCheck(
  pools: Pools,
  urls: { app: string; projector: string },
  principals: readonly Principal[],
  agent: Principal,
): Promise<void> {
  const p = principals[0]!;
  const ids = (rows: { task_id: string }[]) => rows.map((r) => r.task_id).sort().join();
  const viaRls = await withPrincipal(pools.app, p.session, p.orgId, async (tx) => (await tx.query<{ task_id: string }>(LATEST.with([p.orgId]))).rows);
  const direct = (await pools.projector.query<{ task_id: string }>(LATEST_TASKS, [p.orgId])).rows;
  if (viaRls.length !== 50 || ids(viaRls) !== ids(direct)) throw new Error(`sanity: withPrincipal and the direct query disagree`);
  const other = principals[1]!;
  const foreign = await withPrincipal(pools.app, p.session, p.orgId, async (tx) => (await tx.query(LATEST.with([other.orgId]))).rowCount);
  const anonymous = (await pools.app.query(LATEST.with([p.orgId]))).rowCount;
  if (foreign !== 0 || anonymous !== 0) throw new Error(`sanity: RLS leaked ${foreign} foreign, ${anonymous} anonymous rows`);
  const cached = await cachedPlanCheck(urls, principals, agent);
  const intoOther = await withPrincipal(pools.app, p.session, other.orgId, async () => 'admitted').catch(
    (error: { code?: string }) => error.code,
  );
  if (intoOther !== 'BA004') throw new Error(`sanity: authz.begin into another org gave ${intoOther}, not BA004`);
  const all = 'select task_id from tasks where org_id = $1';
  const agentSees = await withPrincipal(pools.app, agent.session, agent.orgId, async (tx) => (await tx.query<{ task_id: string }>(all, [agent.orgId])).rows);
  const assigned = (
    await pools.projector.query<{ task_id: string }>(`${all} and assignee_type = 'agent' and assignee_id = $2`, [agent.orgId, agent.userId])
  ).rows;
  if (assigned.length !== 3 || ids(agentSees) !== ids(assigned)) {
    throw new Error(`sanity: the agent sees ${agentSees.length} tasks, not its ${assigned.length} assigned ones`);
  }
  // The agent forges a human principal type before and during its statements: it never sees more than its own.
  const mine = new Set(assigned.map((r) => r.task_id));
  const forge = "set_config('bastion.principal_type', 'human', true)";
  const attacks = [
    `select task_id from tasks where org_id = $1 and ${forge} is not null`,
    `select t.task_id, ${forge} from tasks t where t.org_id = $1`,
    `select t.task_id from (select ${forge} from generate_series(1, 3)) f, tasks t where t.org_id = $1`,
    `select task_id from tasks where org_id = (select $1::uuid from (select ${forge}) x)`,
  ];
  for (const sql of attacks) {
    const seen = await withPrincipal(pools.app, agent.session, agent.orgId, async (tx) => {
      const before = (await tx.query<{ task_id: string }>(sql, [agent.orgId])).rows;
      const after = (await tx.query<{ task_id: string }>(all, [agent.orgId])).rows; // the setting is now forged
      return [...before, ...after];
    });
    if (seen.some((r) => !mine.has(r.task_id))) throw new Error(`sanity: a forged principal type showed the agent other tasks: ${sql}`);
  }
  console.log(
    `sanity: a member sees the org's latest 50 (as the direct query), another org's and no principal's: 0, ` +
      'the agent: its 3, also when it forges a human principal type before or during a statement; authz.begin into another org: BA004; ' +
      `on one connection, the named query's cached plan (${cached}) shows each principal its own org's rows, the agent its 3, and no principal nothing`,
  );
}

/**
 * Named statements keep their plan on the connection: run the named query on ONE connection for two members of
 * different orgs in turn (past the fifth execution, after which PostgreSQL may switch to its generic plan), then
 * for the agent and with no authz.begin. Each must see exactly what the direct query gives for it: the plan is
 * reused, the policy is evaluated afresh.
 */
async function cachedPlanCheck(
  urls: { app: string; projector: string },
  principals: readonly Principal[],
  agent: Principal,
): Promise<string> {
  const pool = openPool(urls.app, 1);
  const ids = (rows: { task_id: string }[]) => rows.map((r) => r.task_id).join();
  try {
    const [first, second] = [principals[0]!, principals[1]!];
    const expected = new Map<string, string>();
    await withClient(urls.projector, async (c) => {
      for (const p of [first, second]) expected.set(p.orgId, ids((await c.query<{ task_id: string }>(LATEST_TASKS, [p.orgId])).rows));
    });
    const runs = 12;
    for (let i = 0; i < runs; i += 1) {
      const [p, q] = i % 2 ? [second, first] : [first, second];
      const seen = await withPrincipal(pool, p.session, p.orgId, async (tx) => (await tx.query<{ task_id: string }>(LATEST.with([p.orgId]))).rows);
      if (ids(seen) !== expected.get(p.orgId)) throw new Error(`sanity: the named query's cached plan showed run ${i} the wrong rows`);
      const across = await withPrincipal(pool, p.session, p.orgId, async (tx) => (await tx.query(LATEST.with([q.orgId]))).rowCount);
      if (across !== 0) throw new Error(`sanity: the named query's cached plan showed ${across} rows of another org`);
    }
    // The agent belongs to the first org: it sees its 3 tasks (all among that org's latest 50) and nothing else.
    const agentSees = await withPrincipal(pool, agent.session, agent.orgId, async (tx) => (await tx.query<{ task_id: string }>(LATEST.with([agent.orgId]))).rows);
    const firstOrgs = new Set(expected.get(first.orgId)!.split(','));
    if (agent.orgId !== first.orgId || agentSees.length !== 3 || agentSees.some((r) => !firstOrgs.has(r.task_id))) {
      throw new Error(`sanity: through the named query's cached plan the agent sees ${agentSees.length} tasks, not its 3`);
    }
    const anonymous = (await pool.query(LATEST.with([first.orgId]))).rowCount;
    if (anonymous !== 0) throw new Error(`sanity: the named query's cached plan showed ${anonymous} rows without authz.begin`);
    const { rows } = await pool.query<{ generic_plans: string; custom_plans: string }>(
      'select generic_plans, custom_plans from pg_prepared_statements where name = $1',
      [LATEST.name],
    );
    return `${rows[0]?.generic_plans ?? 0} generic and ${rows[0]?.custom_plans ?? 0} custom plans in ${runs * 2 + 2} runs`;
  } finally {
    await pool.end();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Diagnostics
// ---------------------------------------------------------------------------------------------------------------

async function explainPlan(pools: Pools, p: Principal): Promise<string> {
  return withPrincipal(pools.app, p.session, p.orgId, async (tx) => {
    const { rows } = await tx.query<{ 'QUERY PLAN': string }>(`explain (analyze, buffers) ${LATEST_TASKS}`, [p.orgId]);
    return rows.map((r) => r['QUERY PLAN']).join('\n');
  });
}

/** The same query as an SQL-level prepared statement, its generic plan forced, inside a real authz.begin transaction. */
async function explainGenericPlan(pools: Pools, p: Principal): Promise<string> {
  if (!/^[0-9a-f-]{36}$/.test(p.orgId)) throw new Error('not a uuid');
  return withPrincipal(pools.app, p.session, p.orgId, async (tx) => {
    await tx.query(`prepare bench_generic(uuid) as ${LATEST_TASKS}`);
    try {
      await tx.query('set local plan_cache_mode = force_generic_plan');
      const { rows } = await tx.query<{ 'QUERY PLAN': string }>(`explain (analyze, buffers) execute bench_generic('${p.orgId}')`);
      return rows.map((r) => r['QUERY PLAN']).join('\n');
    } finally {
      await tx.query('deallocate bench_generic');
    }
  });
}

/** Generic and custom plans made for each named statement, summed over every connection of every pool. */
async function planCacheStats(pools: Pools): Promise<string> {
  const totals = new Map<string, { generic: number; custom: number }>();
  for (const [role, pool] of [['bastion_app', pools.app], ['bastion_projector', pools.projector], ['superuser', pools.admin]] as const) {
    if (!pool) continue;
    const clients = await Promise.all(Array.from({ length: CONCURRENCY }, () => pool.connect()));
    try {
      for (const c of clients) {
        const { rows } = await c.query<{ name: string; generic_plans: string; custom_plans: string }>(
          `select name, generic_plans, custom_plans from pg_prepared_statements where name like 'bench.%' or name like 'bastion.%'`,
        );
        for (const r of rows) {
          const key = `${r.name} (${role})`;
          const t = totals.get(key) ?? { generic: 0, custom: 0 };
          totals.set(key, { generic: t.generic + Number(r.generic_plans), custom: t.custom + Number(r.custom_plans) });
        }
      }
    } finally {
      for (const c of clients) c.release();
    }
  }
  const lines = ['| statement (role) | generic plans | custom plans |', '|---|---:|---:|'];
  for (const [key, t] of [...totals].sort()) lines.push(`| ${key} | ${fmt(t.generic)} | ${fmt(t.custom)} |`);
  return lines.join('\n');
}

/** Milliseconds of each round trip of one request, on a dedicated connection. */
type Steps = Record<string, number>;

async function timed(steps: Steps, name: string, fn: () => Promise<unknown>): Promise<void> {
  const t0 = performance.now();
  await fn();
  steps[name] = performance.now() - t0;
}

/**
 * Concurrency 1, one dedicated connection per variant, the variants interleaved request by request: where a
 * request's time goes, round trip by round trip.
 */
async function breakdown(urls: { app: string; projector: string; admin: string }, principals: readonly Principal[]): Promise<string> {
  const app = new Client({ connectionString: urls.app });
  const projector = new Client({ connectionString: urls.projector });
  const admin = new Client({ connectionString: urls.admin });
  await Promise.all([app.connect(), projector.connect(), admin.connect()]);
  try {
    const runs: Record<string, Steps[]> = {
      rls: [],
      limit: [],
      autocommit: [],
      'x: authz.begin, no policy': [],
      'x: (a), statements unnamed': [],
      'x: (b), statements unnamed': [],
    };
    const one = {
      rls: async (p: Principal, s: Steps) => {
        await timed(s, 'begin', () => app.query('begin'));
        await timed(s, 'authz.begin / set_config', () => app.query(AUTHZ_BEGIN.with([p.session.sessionId, p.session.proof, p.orgId])));
        await timed(s, 'query', () => app.query(LATEST.with([p.orgId])));
        await timed(s, 'commit', () => app.query('commit'));
      },
      limit: async (p: Principal, s: Steps) => {
        await timed(s, 'begin', () => projector.query('begin'));
        await timed(s, 'authz.begin / set_config', () => projector.query(SET_CONFIG_NAMED.with([p.session.sessionId, p.userId, p.orgId, p.fakeBinding])));
        await timed(s, 'query', () => projector.query(LATEST.with([p.orgId])));
        await timed(s, 'commit', () => projector.query('commit'));
      },
      autocommit: async (p: Principal, s: Steps) => {
        await timed(s, 'query', () => projector.query(LATEST.with([p.orgId])));
      },
      'x: authz.begin, no policy': async (p: Principal, s: Steps) => {
        await timed(s, 'begin', () => admin.query('begin'));
        await timed(s, 'authz.begin / set_config', () => admin.query(AUTHZ_BEGIN.with([p.session.sessionId, p.session.proof, p.orgId])));
        await timed(s, 'query', () => admin.query(LATEST.with([p.orgId])));
        await timed(s, 'commit', () => admin.query('commit'));
      },
      'x: (a), statements unnamed': async (p: Principal, s: Steps) => {
        await timed(s, 'begin', () => app.query('begin'));
        await timed(s, 'authz.begin / set_config', () => app.query(AUTHZ_BEGIN_SQL, [p.session.sessionId, p.session.proof, p.orgId]));
        await timed(s, 'query', () => app.query(LATEST_TASKS, [p.orgId]));
        await timed(s, 'commit', () => app.query('commit'));
      },
      'x: (b), statements unnamed': async (p: Principal, s: Steps) => {
        await timed(s, 'begin', () => projector.query('begin'));
        await timed(s, 'authz.begin / set_config', () => projector.query(SET_CONFIG, [p.session.sessionId, p.userId, p.orgId, p.fakeBinding]));
        await timed(s, 'query', () => projector.query(LATEST_TASKS, [p.orgId]));
        await timed(s, 'commit', () => projector.query('commit'));
      },
    } as const;
    const names = Object.keys(one) as (keyof typeof one)[];
    for (let i = 0; i < BREAKDOWN + 50; i += 1) {
      const p = pick(principals);
      for (const name of i % 2 ? [...names].reverse() : names) {
        const s: Steps = {};
        const t0 = performance.now();
        await one[name](p, s);
        s.total = performance.now() - t0;
        if (i >= 50) runs[name]!.push(s); // the first 50 warm up
      }
    }
    const cols = ['begin', 'authz.begin / set_config', 'query', 'commit', 'total'];
    const lines = [
      `| variant (c=1, median ms over ${BREAKDOWN}) | ${cols.join(' | ')} |`,
      `|---|${cols.map(() => '---:').join('|')}|`,
    ];
    for (const name of names) {
      const med = (col: string) => {
        const values = runs[name]!.map((s) => s[col]).filter((v): v is number => v !== undefined);
        return values.length ? fmtMs(median(values)) : '—';
      };
      lines.push(`| ${LABEL[name]} | ${cols.map(med).join(' | ')} |`);
    }
    return lines.join('\n');
  } finally {
    await Promise.all([app.end(), projector.end(), admin.end()]);
  }
}

/**
 * The authz functions' calls and times per request: `track_functions = all` for this database only (new
 * connections), N requests through withPrincipal at concurrency 1, the connection closed (which flushes its
 * statistics), then pg_stat_user_functions.
 */
async function functionStats(
  adminUrl: string,
  appUrl: string,
  dbName: string,
  principals: readonly Principal[],
): Promise<string> {
  const n = Math.max(200, Math.round(BREAKDOWN / 2));
  await withClient(adminUrl, async (c) => {
    await c.query(`alter database ${dbName} set track_functions = 'all'`);
    await c.query('select pg_stat_reset()');
  });
  const pool = openPool(appUrl, 1);
  const t0 = performance.now();
  try {
    for (let i = 0; i < n; i += 1) {
      const p = pick(principals);
      await withPrincipal(pool, p.session, p.orgId, (tx) => tx.query(LATEST.with([p.orgId])));
    }
  } finally {
    await pool.end();
  }
  const perRequestMs = (performance.now() - t0) / n;
  // The backend flushes its counters when it exits; wait for them to arrive.
  let rows: { fn: string; calls: string; total: number; self: number }[] = [];
  await withClient(adminUrl, async (c) => {
    for (let attempt = 0; attempt < 50; attempt += 1) {
      await c.query('select pg_stat_clear_snapshot()');
      ({ rows } = await c.query(
        `select schemaname || '.' || funcname as fn, calls, total_time as total, self_time as self
           from pg_stat_user_functions order by total_time desc`,
      ));
      const begin = rows.find((r) => r.fn === 'authz.begin');
      if (begin && Number(begin.calls) >= n) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    await c.query(`alter database ${dbName} reset track_functions`);
  });
  const lines = [
    `As migrated: ${n} requests through withPrincipal at c=1 with track_functions = all (${fmtMs(perRequestMs)} ms a request, timing overhead included):`,
    '',
    '| function | calls / request | total µs / call | self µs / call | total µs / request |',
    '|---|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    const calls = Number(r.calls);
    if (calls === 0) continue;
    lines.push(
      `| ${r.fn} | ${(calls / n).toFixed(2)} | ${fmt((r.total * 1000) / calls, 1)} | ${fmt((r.self * 1000) / calls, 1)} | ${fmt((r.total * 1000) / n, 1)} |`,
    );
  }
  return lines.join('\n');
}

/**
 * Experiment, run last because it changes this throwaway database: authz.begin and current_org_if cut down to the
 * structure the design prescribes, and nothing more. authz.begin stays a definer function that finds the session
 * (live, proof verified) with one query and sets the six settings; current_org_if stays a definer function called
 * once per statement from the policy's InitPlan, and returns the org when the permission is in the bound list. Gone:
 * the membership and org lookups, the MFA and Provider Admin checks, the request key and the binding — so these
 * versions honour forged settings and are never a design. (a) against (b) again, in fresh pools: what (a) still loses
 * is what the structure costs (a definer call and a query a request, a definer call a statement, the policy); the
 * rest of (a)'s gap in the main rounds is what the checks cost.
 */
async function structureOnly(
  adminUrl: string,
  urls: { app: string; projector: string },
  principals: readonly Principal[],
): Promise<Map<Variant, Slice[]>> {
  await withClient(adminUrl, async (c) => {
    await c.query('set role bastion_authz');
    // The signature the real helper calls (migration 0026 added p_require): a three-argument version would be an
    // overload withPrincipal never reaches, and (a) below would still run the real authz.begin.
    await c.query(`create or replace function authz.begin(p_session uuid, p_proof bytea, p_org uuid default null,
                                                          p_require text[] default null) returns void
      language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
      declare
        r record;
        v text;
      begin
        select x.principal_type as ptype, x.principal_id as pid into r
          from authz.sessions x
         where x.id = p_session and x.revoked_at is null and x.idle_expires_at > now() and x.absolute_expires_at > now()
           and x.proof_hash = sha256(p_proof);
        if not found then
          raise exception 'session not live' using errcode = '28000';
        end if;
        v := set_config('bastion.session_id', p_session::text, true) || set_config('bastion.principal_id', r.pid::text, true)
             || set_config('bastion.principal_type', r.ptype, true) || set_config('bastion.org_id', coalesce(p_org::text, ''), true)
             || set_config('bastion.permissions', authz.role_permission_list('member'), true) || set_config('bastion.binding', '', true);
      end
      $$`);
    await c.query(`create or replace function authz.current_org_if(p_permission text) returns uuid
      language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
      declare
        v_org text := current_setting('bastion.org_id', true);
      begin
        if v_org is null or v_org = '' or current_setting('bastion.principal_type', true) is distinct from 'human'
           or strpos(current_setting('bastion.permissions', true), ',' || p_permission || ',') = 0 then
          return null;
        end if;
        return v_org::uuid;
      end
      $$`);
    await c.query('reset role');
    const { rows } = await c.query<{ n: number }>("select count(*)::int as n from pg_proc where proname = 'begin' and pronamespace = 'authz'::regnamespace");
    if (rows[0]?.n !== 1) throw new Error('structure only: authz.begin must have one signature, the one withPrincipal calls');
  });
  const pools: Pools = { app: openPool(urls.app, CONCURRENCY), projector: openPool(urls.projector, CONCURRENCY), admin: null };
  try {
    const all = ops(pools);
    const variants = new Map<Variant, Op>([
      ['x: (a), structure only', all.get('rls')!],
      ['limit', all.get('limit')!],
    ]);
    return await runRounds(variants, principals, (r) => `structure/b ${fmtRatio(r('x: (a), structure only') / r('limit'))}`);
  } finally {
    await Promise.all([pools.app.end(), pools.projector.end()]);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------------------------


async function main(): Promise<void> {
  const started = performance.now();
  console.log(
    `Bastion RLS benchmark, ${new Date().toISOString()}\n` +
      `node ${process.version}, ${cpus().length} CPU(s) ${cpus()[0]?.model ?? ''}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, ` +
      `load ${load()}; ${await serverFacts(ADMIN_URL)} at ${redactUrl(ADMIN_URL)}\n` +
      `rows=${fmt(ROWS)}, orgs=${ORGS}, sampled orgs=${SAMPLE_ORGS}, concurrency=${CONCURRENCY}, rounds=${ROUNDS}, ` +
      `slice=${SLICE_MS} ms (two per variant per round), experiments=${EXPERIMENTS ? 'on' : 'off'}`,
  );

  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    console.error(`\n${signal}: dropping the benchmark database`);
    process.on('uncaughtException', () => undefined);
    process.on('unhandledRejection', () => undefined);
    void dropDatabase().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  let pools: Pools | null = null;
  try {
    const dbName = `bastion_bench_rls_${randomBytes(4).toString('hex')}`;
    const adminUrl = await createDatabase(dbName);
    await bootstrapRoles(ADMIN_URL);
    const { applied } = await migrate(adminUrl);
    console.log(`database ${dbName}: ${applied.length} migrations, the last ${applied[applied.length - 1] ?? '—'}`);
    const { principals, agent } = await load1M(adminUrl);

    const urls = { app: roleUrl(adminUrl, 'bastion_app'), projector: roleUrl(adminUrl, 'bastion_projector'), admin: adminUrl };
    pools = {
      app: openPool(urls.app, CONCURRENCY),
      projector: openPool(urls.projector, CONCURRENCY),
      admin: EXPERIMENTS ? openPool(urls.admin, CONCURRENCY) : null,
    };
    const variants = ops(pools);
    const names = [...variants.keys()];
    await sanityCheck(pools, urls, principals, agent);

    const results = await runRounds(variants, principals, (r) => {
      const unnamed = variants.has('x: (a), statements unnamed')
        ? `, unnamed a/b ${fmtRatio(r('x: (a), statements unnamed') / r('x: (b), statements unnamed'))}`
        : '';
      return `a/b ${fmtRatio(r('rls') / r('limit'))}, b/c ${fmtRatio(r('limit') / r('autocommit'))}${unnamed}`;
    });

    const perRoundRatio = (x: Variant, y: Variant) => results.get(x)!.map((s, i) => qps(s) / qps(results.get(y)![i]!));
    const lines = variantTable(results, names);
    const ratioLine = (label: string, x: Variant, y: Variant) => ratioRow(label, perRoundRatio(x, y));
    const ratioLines = [
      '| ratio (median of per-round ratios) | median | per round |',
      '|---|---:|---|',
      ratioLine('(a) / (b): RLS vs the same transaction without it — target ≥ 0.80×', 'rls', 'limit'),
      ratioLine('(b) / (c): the transaction shape vs one autocommit statement', 'limit', 'autocommit'),
      ratioLine('(a) / (c)', 'rls', 'autocommit'),
    ];
    const serverRatios = perRoundServerRatio(results, 'limit', 'rls');
    if (serverRatios) ratioLines.push(ratioRow('server CPU a request, (b) / (a): the same comparison as the database server alone sees it', serverRatios));
    if (variants.has('x: authz.begin, no policy')) {
      ratioLines.push(ratioLine('x: authz.begin, no policy / (b): authz.begin vs plain set_config', 'x: authz.begin, no policy', 'limit'));
      ratioLines.push(ratioLine('(a) / x: authz.begin, no policy: the policies alone', 'rls', 'x: authz.begin, no policy'));
    }
    if (variants.has('x: (a), statements unnamed')) {
      ratioLines.push(ratioLine('x: (a) unnamed / x: (b) unnamed: (a)/(b) with every statement unnamed, as before', 'x: (a), statements unnamed', 'x: (b), statements unnamed'));
      ratioLines.push(ratioLine('(a) / x: (a) unnamed: naming the statements, under RLS', 'rls', 'x: (a), statements unnamed'));
      ratioLines.push(ratioLine('(b) / x: (b) unnamed: naming the statements, without RLS', 'limit', 'x: (b), statements unnamed'));
    }
    const verdict = median(perRoundRatio('rls', 'limit')) >= 0.8 ? 'met' : 'NOT met';

    const planCache = await planCacheStats(pools);
    const plan = await explainPlan(pools, principals[0]!);
    const genericPlan = await explainGenericPlan(pools, principals[0]!);
    await Promise.all([pools.app.end(), pools.projector.end(), pools.admin?.end()]);
    pools = null;
    const steps = await breakdown(urls, principals);
    const fnStats = await functionStats(adminUrl, urls.app, dbName, principals);

    console.log(`\n"Latest 50 tasks of my org", ${fmt(ROWS)} tasks in ${ORGS} orgs, concurrency ${CONCURRENCY}:\n`);
    console.log(lines.join('\n'));
    console.log('');
    console.log(ratioLines.join('\n'));
    console.log(`\nTarget (a)/(b) ≥ 0.80×: ${verdict}.`);
    console.log(`\nPlans of the named statements on the ${CONCURRENCY} connections of each pool, over the whole run:\n\n${planCache}`);
    console.log(
      `\nEXPLAIN (ANALYZE, BUFFERS) inside a real authz.begin transaction (bastion_app):\n\n${plan}\n\n` +
        `the generic plan (what the named query runs once PostgreSQL settles on it):\n\n${genericPlan}`,
    );
    console.log(`\nLatency breakdown by round trip (as migrated):\n\n${steps}`);
    console.log(`\n${fnStats}`);
    if (EXPERIMENTS) {
      // Last: it replaces two functions of this (throwaway) database.
      const floor = await structureOnly(adminUrl, urls, principals);
      const ratios = floor.get('x: (a), structure only')!.map((s, i) => qps(s) / qps(floor.get('limit')![i]!));
      const serverRatios = perRoundServerRatio(floor, 'limit', 'x: (a), structure only');
      console.log(
        `\nThe structure alone (authz.begin finds the live, proven session and sets the six settings; current_org_if ` +
          `returns the org when the permission is in the bound list; no membership, MFA, Provider Admin, request key or ` +
          `binding check), in ${ROUNDS} more rounds:\n\n${variantTable(floor, [...floor.keys()]).join('\n')}\n\n` +
          `| ratio (median of per-round ratios) | median | per round |\n|---|---:|---|\n` +
          `${ratioRow('x: structure only / (b): the most a verified principal could reach with this structure', ratios)}` +
          (serverRatios ? `\n${ratioRow('server CPU a request, (b) / x: structure only', serverRatios)}` : ''),
      );
    }
    console.log(`\nTotal time ${((performance.now() - started) / 1000).toFixed(0)} s, load ${load()}.`);
  } catch (error) {
    // Said before the cleanup below, whose forced drop ends every connection still open.
    console.error(error);
    process.exitCode = 1;
  } finally {
    if (pools) await Promise.allSettled([pools.app.end(), pools.projector.end(), pools.admin?.end()]);
    await dropDatabase();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
