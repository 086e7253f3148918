/**
 * Event-store benchmark (docs/performance.md, "Event store").
 *
 *   npx swc bench libs apps -d dist >/dev/null && node dist/bench/event-store.bench.js
 *
 * In one run on one server it creates a fresh database (roles bootstrapped, migrations applied) and measures,
 * as the `bastion_worker` role appending system events outside any request transaction:
 *
 * - the Bastion adapter (`PostgresEventStore`);
 * - the physical limit: the same rows through a plain named prepared INSERT (single rows, or 100 rows in one
 *   `unnest` statement) and, for reads, a raw keyset SELECT on the primary key — same role, same table;
 * - a peer, Emmett's PostgreSQL event store, in a second fresh database (it creates its own schema, so it runs
 *   as the superuser login). It runs in a child process of its own because Emmett replaces `pg`'s int8 and jsonb
 *   type parsers for the whole process (DESIGN §3), which would otherwise change what the other two measure.
 *
 * Every scenario runs ROUNDS times (default 3), rotating which implementation goes first, each run after a
 * warm-up on a fresh pool sized to the concurrency; the table reports the median run. Both databases are dropped
 * at the end, also on failure or Ctrl-C.
 *
 * Knobs (environment): BENCH_DATABASE_URL (a superuser login; default DATABASE_URL, then
 * postgres://postgres@127.0.0.1:5432/postgres), BENCH_ROUNDS, BENCH_SCALE (multiplies the append counts; 0.1 for
 * a smoke run), BENCH_ONLY (scenario names or kinds, separated by ';'), BENCH_EXPERIMENTS=0 to skip the experimental rows.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { cpus, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';
import { type NewEvent, SYSTEM_ACTOR } from '@bastion/domain';
import { Client, Pool } from 'pg';
import { bootstrapRoles } from '../libs/infra/src/database/bootstrap-roles';
import { migrate } from '../libs/infra/src/database/migrate';
import { redactUrl, roleUrl, withDatabase } from '../libs/infra/src/database/role-urls';
import { type Position, START } from '../libs/infra/src/event-store/event-store.port';
import { PostgresEventStore } from '../libs/infra/src/event-store/postgres/postgres-event-store.adapter';
import { uuidv7 } from '../libs/infra/src/ids/uuid-v7';

// ---------------------------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------------------------

const ADMIN_URL =
  process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(';').map((s) => s.trim())) : null;
const EXPERIMENTS = process.env.BENCH_EXPERIMENTS !== '0';
const READ_TOTAL = 100_000;
const READ_PAGE = 1_000;
/** A stalled gate (a transaction left open anywhere on the cluster) must not hang the benchmark. */
const READ_STALL_MS = 20_000;

interface AppendScenario {
  readonly kind: 'append';
  readonly name: string;
  readonly concurrency: number;
  /** Events per append (one new stream per append). */
  readonly batchSize: number;
  /** Timed appends per run. */
  readonly appends: number;
  /** Untimed appends first, on the same pool: every connection opens and prepares its statements. */
  readonly warmup: number;
}

interface ReadScenario {
  readonly kind: 'read';
  readonly name: string;
  readonly total: number;
  readonly page: number;
}

type Scenario = AppendScenario | ReadScenario;

const scaled = (n: number) => Math.max(10, Math.round(n * SCALE));

const SCENARIOS: readonly Scenario[] = [
  { kind: 'append', name: 'append 1 event, c=1', concurrency: 1, batchSize: 1, appends: scaled(2_000), warmup: 100 },
  { kind: 'append', name: 'append 1 event, c=8', concurrency: 8, batchSize: 1, appends: scaled(4_000), warmup: 200 },
  { kind: 'append', name: 'append 1 event, c=32', concurrency: 32, batchSize: 1, appends: scaled(6_000), warmup: 320 },
  { kind: 'append', name: 'append 100 events, c=1', concurrency: 1, batchSize: 100, appends: scaled(150), warmup: 10 },
  { kind: 'append', name: 'append 100 events, c=8', concurrency: 8, batchSize: 100, appends: scaled(300), warmup: 40 },
  { kind: 'read', name: `catch-up read ${READ_TOTAL.toLocaleString('en')} events, pages of ${READ_PAGE}`, total: READ_TOTAL, page: READ_PAGE },
];

type Impl = 'adapter' | 'limit' | 'peer' | `x:${string}`;

// ---------------------------------------------------------------------------------------------------------------
// Events (the shape of test/support/events.ts, without importing test code)
// ---------------------------------------------------------------------------------------------------------------

const ORG_ID = randomUUID();

function benchEvent(i: number): NewEvent {
  return {
    id: uuidv7(),
    type: 'TaskCreated',
    data: {
      taskId: randomUUID(),
      title: `Benchmark task ${i}`,
      description: 'Refactor the payment module so that retries are idempotent and covered by tests.',
      priority: i % 5,
      labels: ['bench', 'payments'],
    },
    metadata: {
      orgId: ORG_ID,
      actor: SYSTEM_ACTOR,
      authMethod: null,
      sessionId: null,
      correlationId: randomUUID(),
      causationId: null,
      requestId: null,
      ip: null,
      userAgent: null,
      occurredAt: new Date().toISOString(),
      schemaVersion: 1,
    },
  };
}

interface Batch {
  readonly streamId: string;
  readonly events: NewEvent[];
}

function makeBatches(count: number, batchSize: number): Batch[] {
  const batches: Batch[] = [];
  let i = 0;
  for (let b = 0; b < count; b += 1) {
    const events: NewEvent[] = [];
    for (let e = 0; e < batchSize; e += 1) events.push(benchEvent(i++));
    batches.push({ streamId: `task-${randomUUID()}`, events });
  }
  return batches;
}

// ---------------------------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------------------------

interface Measurement {
  readonly events: number;
  readonly ms: number;
}

/** `concurrency` workers take the next item until none is left; returns the elapsed milliseconds. */
async function runConcurrently<T>(items: readonly T[], concurrency: number, op: (item: T) => Promise<unknown>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (;;) {
        const index = next++;
        if (index >= items.length) return;
        await op(items[index]!);
      }
    }),
  );
  return performance.now() - started;
}

type AppendOp = (batch: Batch) => Promise<unknown>;

/** Fresh pool of `concurrency` connections, warm-up, then the timed appends. */
async function measureAppends(
  url: string,
  s: AppendScenario,
  opFor: (pool: Pool) => AppendOp,
): Promise<Measurement> {
  const warmup = makeBatches(s.warmup, s.batchSize);
  const timed = makeBatches(s.appends, s.batchSize);
  const pool = new Pool({ connectionString: url, max: s.concurrency });
  try {
    const op = opFor(pool);
    await runConcurrently(warmup, s.concurrency, op);
    const ms = await runConcurrently(timed, s.concurrency, op);
    return { events: s.appends * s.batchSize, ms };
  } finally {
    await pool.end();
  }
}

/** Pages through the log from the start until `total` events are read, on one connection. */
async function measureRead(
  url: string,
  s: ReadScenario,
  readerFor: (pool: Pool) => () => Promise<number>,
): Promise<Measurement> {
  const pool = new Pool({ connectionString: url, max: 1 });
  try {
    // Warm-up: connect, prepare, and touch the first pages (not timed).
    const warm = readerFor(pool);
    for (let i = 0; i < 5; i += 1) await warm();
    const next = readerFor(pool);
    let read = 0;
    let lastProgress = performance.now();
    const started = performance.now();
    while (read < s.total) {
      const n = await next();
      read += n;
      if (n > 0) lastProgress = performance.now();
      else if (performance.now() - lastProgress > READ_STALL_MS) {
        throw new Error(
          `Read stalled at ${read} events: a transaction open somewhere on the cluster holds back pg_snapshot_xmin.`,
        );
      } else await new Promise((r) => setTimeout(r, 20));
    }
    return { events: read, ms: performance.now() - started };
  } finally {
    await pool.end();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The physical limit: plain SQL with `pg`, named prepared statements, same role, same table
// ---------------------------------------------------------------------------------------------------------------

const LIMIT_INSERT_ONE = {
  name: 'bench_limit_insert_one',
  text: `insert into events (id, stream_id, revision, type, org_id, data, metadata)
         values ($1, $2, 0, $3, $4, $5, $6)`,
};

const LIMIT_INSERT_MANY = {
  name: 'bench_limit_insert_many',
  text: `insert into events (id, stream_id, revision, type, org_id, data, metadata)
         select u.id, $1, u.revision, u.type, u.org_id, u.data, u.metadata
           from unnest($2::uuid[], $3::bigint[], $4::text[], $5::uuid[], $6::jsonb[], $7::jsonb[])
             as u(id, revision, type, org_id, data, metadata)`,
};

const LIMIT_READ = {
  name: 'bench_limit_read',
  text: `select position, transaction_id, id, stream_id, revision, type, data, metadata
           from events where position > $1 order by position limit $2`,
};

function limitAppendOp(pool: Pool): AppendOp {
  return async ({ streamId, events }) => {
    if (events.length === 1) {
      const e = events[0]!;
      await pool.query({
        ...LIMIT_INSERT_ONE,
        values: [e.id, streamId, e.type, e.metadata.orgId, JSON.stringify(e.data), JSON.stringify(e.metadata)],
      });
      return;
    }
    await pool.query({
      ...LIMIT_INSERT_MANY,
      values: [
        streamId,
        events.map((e) => e.id),
        events.map((_, i) => i),
        events.map((e) => e.type),
        events.map((e) => e.metadata.orgId),
        events.map((e) => JSON.stringify(e.data)),
        events.map((e) => JSON.stringify(e.metadata)),
      ],
    });
  };
}

function limitReader(pool: Pool, page: number): () => Promise<number> {
  let after = '0';
  return async () => {
    const { rows } = await pool.query<{ position: string }>({ ...LIMIT_READ, values: [after, page] });
    if (rows.length > 0) after = rows[rows.length - 1]!.position;
    return rows.length;
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The adapter
// ---------------------------------------------------------------------------------------------------------------

function adapterAppendOp(pool: Pool): AppendOp {
  const store = new PostgresEventStore(pool);
  return ({ streamId, events }) => store.append(streamId, events, 'no_stream');
}

function adapterReader(pool: Pool, page: number): () => Promise<number> {
  const store = new PostgresEventStore(pool);
  let from: Position = START;
  return async () => {
    const events = await store.readAll(from, { maxCount: page });
    if (events.length > 0) from = events[events.length - 1]!.position;
    return events.length;
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Experiments: variants of the adapter's READ_ALL, to locate where read time goes (not the adapter; the adapter's
// SQL is in libs/infra/src/event-store/postgres/postgres-event-store.sql.ts). Each maps rows exactly like the
// adapter does, so only the SQL differs.
// ---------------------------------------------------------------------------------------------------------------

const READ_COLUMNS = 'position, transaction_id, id, stream_id, revision, type, data, metadata';

/** The adapter's READ_ALL with the xmin bound computed once per statement in a CTE instead of per row. */
const X_READ_XMIN_ONCE = {
  name: 'bench_x_read_xmin_once',
  text: `
    with gate as materialized (select pg_snapshot_xmin(pg_current_snapshot()) as xmin)
    select ${READ_COLUMNS} from events, gate
     where (transaction_id, position) > ($1::xid8, $2::bigint)
       and transaction_id < gate.xmin
     order by transaction_id, position
     limit $3`,
};

/** The adapter's READ_ALL without the gate: what the gate itself costs (not a correct subscription read). */
const X_READ_NO_GATE = {
  name: 'bench_x_read_no_gate',
  text: `
    select ${READ_COLUMNS} from events
     where (transaction_id, position) > ($1::xid8, $2::bigint)
     order by transaction_id, position
     limit $3`,
};

function experimentalReader(statement: { name: string; text: string }) {
  return (pool: Pool, page: number): (() => Promise<number>) => {
    let tx = '0';
    let pos = '0';
    return async () => {
      const { rows } = await pool.query<{ transaction_id: string; position: string }>({
        ...statement,
        values: [tx, pos, page],
      });
      // The adapter's row mapping, kept so that only the SQL differs.
      const mapped = rows.map((r) => ({ ...r, position: `${r.transaction_id}:${r.position}` }));
      if (rows.length > 0) {
        const last = rows[rows.length - 1]!;
        tx = last.transaction_id;
        pos = last.position;
      }
      return mapped.length;
    };
  };
}

const READ_EXPERIMENTS: Record<string, ReturnType<typeof experimentalReader>> = {
  'x:read, xmin once per statement': experimentalReader(X_READ_XMIN_ONCE),
  'x:read, no gate (not correct)': experimentalReader(X_READ_NO_GATE),
};

// ---------------------------------------------------------------------------------------------------------------
// The peer: Emmett, in a child process (see the header). A tiny request/reply protocol over the IPC channel.
// ---------------------------------------------------------------------------------------------------------------

type PeerRequest =
  | { readonly op: 'setup'; readonly url: string }
  | { readonly op: 'append'; readonly scenario: AppendScenario }
  | { readonly op: 'read'; readonly scenario: ReadScenario }
  | { readonly op: 'seed'; readonly atLeast: number }
  | { readonly op: 'count' };

interface PeerEnvelope {
  readonly id: number;
  readonly request: PeerRequest;
}

interface PeerReply {
  readonly id: number;
  readonly ok: boolean;
  readonly result?: unknown;
  readonly error?: string;
}

async function peerChild(): Promise<void> {
  const emmett = await import('@event-driven-io/emmett-postgresql');
  // Emmett's own SQL executor factory (its dependency), to call its catch-up primitive `readMessagesBatch`.
  const { dumbo } = await import('@event-driven-io/dumbo');
  let url = '';

  const toEmmett = (events: readonly NewEvent[]) =>
    events.map((e) => ({ type: e.type, data: e.data as Record<string, unknown>, metadata: { ...e.metadata, messageId: e.id } }));

  const appendOp = (pool: Pool): AppendOp => {
    const store = emmett.getPostgreSQLEventStore(url, { connectionOptions: { pool }, schema: { autoMigration: 'None' } });
    // Expected version 0n (PostgreSQLEventStoreDefaultStreamVersion) is Emmett's "this stream must be new": it
    // inserts the stream row and fails on a duplicate. STREAM_DOES_NOT_EXIST would not check (DESIGN §3).
    return ({ streamId, events }) =>
      store.appendToStream(streamId, toEmmett(events), { expectedStreamVersion: emmett.PostgreSQLEventStoreDefaultStreamVersion });
  };

  const handlers = {
    async setup(r: { url: string }) {
      url = r.url;
      const pool = new Pool({ connectionString: url, max: 2 });
      try {
        await emmett.getPostgreSQLEventStore(url, { connectionOptions: { pool } }).schema.migrate();
      } finally {
        await pool.end();
      }
      return null;
    },
    async append(r: { scenario: AppendScenario }) {
      return measureAppends(url, r.scenario, appendOp);
    },
    async read(r: { scenario: ReadScenario }) {
      return measureRead(url, r.scenario, (pool) => {
        const db = dumbo({ connectionString: url, pool });
        let after = 0n;
        return async () => {
          const batch = await emmett.readMessagesBatch(db.execute, { after, batchSize: r.scenario.page });
          after = batch.currentGlobalPosition;
          return batch.messages.length;
        };
      });
    },
    async seed(r: { atLeast: number }) {
      const n = await count();
      const missing = r.atLeast - n;
      if (missing <= 0) return n;
      await measureAppends(
        url,
        { kind: 'append', name: 'seed', concurrency: 4, batchSize: 100, appends: Math.ceil(missing / 100), warmup: 0 },
        appendOp,
      );
      return count();
    },
    count: () => count(),
  };

  async function count(): Promise<number> {
    const client = new Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ n: string | bigint }>('select count(*) as n from emt_messages');
      return Number(rows[0]!.n);
    } finally {
      await client.end();
    }
  }

  process.on('disconnect', () => process.exit(1));
  process.on('message', (message: PeerEnvelope) => {
    const { id, request } = message;
    const handler = handlers[request.op] as (r: PeerRequest) => Promise<unknown>;
    handler(request).then(
      (result) => process.send!({ id, ok: true, result } satisfies PeerReply),
      (error: unknown) => process.send!({ id, ok: false, error: String((error as Error)?.stack ?? error) } satisfies PeerReply),
    );
  });
  process.send!({ id: 0, ok: true } satisfies PeerReply);
}

class Peer {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private constructor(private readonly child: ChildProcess) {
    child.on('message', (reply: PeerReply) => {
      const waiter = this.pending.get(reply.id);
      if (!waiter) return;
      this.pending.delete(reply.id);
      if (reply.ok) waiter.resolve(reply.result);
      else waiter.reject(new Error(`peer: ${reply.error}`));
    });
    child.on('exit', (code) => {
      for (const waiter of this.pending.values()) waiter.reject(new Error(`peer process exited (${code})`));
      this.pending.clear();
    });
  }

  static async start(): Promise<Peer> {
    const child = fork(__filename, ['--peer'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`peer process exited (${code}) before it was ready`)));
    });
    return new Peer(child);
  }

  call<T>(request: PeerRequest): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ id, request } satisfies PeerEnvelope);
    });
  }

  stop(): void {
    if (this.child.exitCode === null) this.child.kill();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Databases
// ---------------------------------------------------------------------------------------------------------------

async function withAdmin<T>(url: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

const createdDatabases: string[] = [];

async function createDatabase(name: string): Promise<string> {
  if (!/^bastion_bench_[a-z0-9_]+$/.test(name)) throw new Error(`Refusing to create ${name}`);
  await withAdmin(ADMIN_URL, (c) => c.query(`create database ${name}`));
  createdDatabases.push(name);
  return withDatabase(ADMIN_URL, name);
}

async function dropDatabases(): Promise<void> {
  const names = createdDatabases.splice(0);
  if (names.length === 0) return;
  await withAdmin(ADMIN_URL, async (c) => {
    for (const name of names) {
      try {
        await c.query(`drop database if exists ${name} with (force)`);
        console.log(`dropped database ${name}`);
      } catch (error) {
        console.error(`could not drop database ${name}: ${(error as Error).message}`);
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------------------------

type Results = Map<string, Map<Impl, number[]>>; // scenario -> impl -> events/s per round

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const fmtRate = (v: number | undefined) => (v === undefined ? '—' : Math.round(v).toLocaleString('en'));
const fmtRatio = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined ? '—' : `${(a / b).toFixed(2)}×`;

function printTable(results: Results): void {
  const header = [
    'scenario',
    'Bastion adapter (events/s)',
    'plain-SQL limit (events/s)',
    'Emmett peer (events/s)',
    'adapter ÷ limit',
    'adapter ÷ peer',
    'peer ÷ limit',
  ];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`];
  for (const [scenario, byImpl] of results) {
    const m = (impl: Impl) => (byImpl.get(impl) ? median(byImpl.get(impl)!) : undefined);
    const adapter = m('adapter');
    const limit = m('limit');
    const peer = m('peer');
    lines.push(
      `| ${scenario} | ${fmtRate(adapter)} | ${fmtRate(limit)} | ${fmtRate(peer)} | ${fmtRatio(adapter, limit)} | ${fmtRatio(adapter, peer)} | ${fmtRatio(peer, limit)} |`,
    );
    for (const [impl, values] of byImpl) {
      if (!impl.startsWith('x:')) continue;
      const v = median(values);
      lines.push(`| ↳ experiment: ${impl.slice(2)} | ${fmtRate(v)} | ${fmtRate(limit)} | — | ${fmtRatio(v, limit)} | — | — |`);
    }
  }
  console.log(`\nMedian of ${ROUNDS} run(s) per cell (implementations alternate within each round):\n`);
  console.log(lines.join('\n'));
  console.log('\nEvery run (events/s):');
  for (const [scenario, byImpl] of results) {
    for (const [impl, values] of byImpl) {
      console.log(`  ${scenario.padEnd(48)} ${impl.padEnd(36)} ${values.map((v) => fmtRate(v).padStart(8)).join(' ')}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------------------------

async function serverFacts(): Promise<string> {
  return withAdmin(ADMIN_URL, async (c) => {
    const { rows } = await c.query<{ v: string; sc: string; fsync: string; sb: string }>(
      `select current_setting('server_version') as v, current_setting('synchronous_commit') as sc,
              current_setting('fsync') as fsync, current_setting('shared_buffers') as sb`,
    );
    const r = rows[0]!;
    return `PostgreSQL ${r.v} (synchronous_commit=${r.sc}, fsync=${r.fsync}, shared_buffers=${r.sb})`;
  });
}

async function main(): Promise<void> {
  const started = performance.now();
  const suffix = randomBytes(4).toString('hex');
  console.log(
    `Bastion event-store benchmark — ${new Date().toISOString()}\n` +
      `node ${process.version}, ${cpus().length} CPU(s) ${cpus()[0]?.model ?? ''}, ${Math.round(totalmem() / 2 ** 30)} GiB; ` +
      `${await serverFacts()} at ${redactUrl(ADMIN_URL)}\n` +
      `rounds=${ROUNDS}, scale=${SCALE}`,
  );

  const peer = await Peer.start();
  const stopPeer = () => peer.stop();
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    console.error(`\n${signal}: cleaning up…`);
    stopPeer();
    void dropDatabases().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    // Bastion: fresh database, cluster roles, migrations; the adapter and the limit run as bastion_worker.
    const bastionAdminUrl = await createDatabase(`bastion_bench_${suffix}`);
    await bootstrapRoles(ADMIN_URL);
    await migrate(bastionAdminUrl);
    const workerUrl = roleUrl(bastionAdminUrl, 'bastion_worker');
    // The peer: its own fresh database; Emmett creates its schema (DDL), so it logs in as the superuser.
    const peerUrl = await createDatabase(`bastion_bench_${suffix}_peer`);
    await peer.call({ op: 'setup', url: peerUrl });
    console.log(
      `databases: bastion_bench_${suffix} (adapter and limit, as bastion_worker), ` +
        `bastion_bench_${suffix}_peer (Emmett, as the superuser login: it needs DDL)`,
    );

    const results: Results = new Map();
    const record = (scenario: string, impl: Impl, m: Measurement) => {
      const byImpl = results.get(scenario) ?? new Map<Impl, number[]>();
      results.set(scenario, byImpl);
      const values = byImpl.get(impl) ?? [];
      byImpl.set(impl, values);
      const rate = (m.events / m.ms) * 1000;
      values.push(rate);
      console.log(`  ${scenario.padEnd(48)} ${impl.padEnd(36)} ${fmtRate(rate).padStart(8)} events/s (${m.events} in ${Math.round(m.ms)} ms)`);
    };

    for (const s of SCENARIOS) {
      if (ONLY && !ONLY.has(s.name) && !ONLY.has(s.kind)) continue;
      const runners: [Impl, () => Promise<Measurement>][] = [];
      if (s.kind === 'append') {
        runners.push(['adapter', () => measureAppends(workerUrl, s, adapterAppendOp)]);
        runners.push(['limit', () => measureAppends(workerUrl, s, limitAppendOp)]);
        runners.push(['peer', () => peer.call<Measurement>({ op: 'append', scenario: s })]);
      } else {
        // Enough rows on both sides, then VACUUM ANALYZE (hint bits, visibility map, statistics) so that no reader
        // pays for the writers' clean-up.
        await ensureEvents(workerUrl, s.total + s.page * 10);
        const peerCount = await peer.call<number>({ op: 'seed', atLeast: s.total + s.page * 10 });
        await withAdmin(bastionAdminUrl, (c) => c.query('vacuum analyze events'));
        await withAdmin(peerUrl, (c) => c.query('vacuum analyze emt_messages'));
        console.log(`  read setup: ${await countEvents(bastionAdminUrl)} Bastion events, ${peerCount} Emmett messages`);
        runners.push(['adapter', () => measureRead(workerUrl, s, (pool) => adapterReader(pool, s.page))]);
        runners.push(['limit', () => measureRead(workerUrl, s, (pool) => limitReader(pool, s.page))]);
        runners.push(['peer', () => peer.call<Measurement>({ op: 'read', scenario: s })]);
        if (EXPERIMENTS) {
          for (const [impl, reader] of Object.entries(READ_EXPERIMENTS)) {
            runners.push([impl as Impl, () => measureRead(workerUrl, s, (pool) => reader(pool, s.page))]);
          }
        }
      }
      for (let round = 0; round < ROUNDS; round += 1) {
        // Rotate the order so that no implementation always runs first (cold) or last (biggest table).
        for (let k = 0; k < runners.length; k += 1) {
          const [impl, run] = runners[(k + round) % runners.length]!;
          record(s.name, impl, await run());
        }
      }
    }

    printTable(results);
    console.log(
      `\nBastion events table: ${await countEvents(bastionAdminUrl)} rows; Emmett messages: ${await peer.call<number>({ op: 'count' })}.` +
        `\nTotal time ${((performance.now() - started) / 1000).toFixed(0)} s.`,
    );
  } finally {
    stopPeer();
    await dropDatabases();
  }
}

async function countEvents(adminUrl: string): Promise<number> {
  return withAdmin(adminUrl, async (c) => Number((await c.query<{ n: string }>('select count(*) as n from events')).rows[0]!.n));
}

/** Tops the events table up to `atLeast` rows with plain batch inserts (as the worker). */
async function ensureEvents(workerUrl: string, atLeast: number): Promise<void> {
  const have = await withAdmin(workerUrl, async (c) => Number((await c.query<{ n: string }>('select count(*) as n from events')).rows[0]!.n));
  const missing = atLeast - have;
  if (missing <= 0) return;
  await measureAppends(
    workerUrl,
    { kind: 'append', name: 'seed', concurrency: 4, batchSize: 100, appends: Math.ceil(missing / 100), warmup: 0 },
    limitAppendOp,
  );
}

if (process.argv.includes('--peer')) {
  peerChild().catch((error) => {
    console.error(error);
    process.exit(1);
  });
} else {
  main().then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
