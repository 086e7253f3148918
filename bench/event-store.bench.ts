/**
 * Event-store benchmark (docs/performance.md, "Event store").
 *
 *   npx swc bench libs apps -d dist >/dev/null && node dist/bench/event-store.bench.js
 *
 * In one run on one server it creates a fresh database (roles bootstrapped, migrations applied) and measures, as the
 * `bastion_worker` role appending system events outside any request transaction:
 *
 * - `adapter`: the Bastion adapter (`PostgresEventStore` over a `pg` pool);
 * - `limit`: the physical limit — the same rows through a plain named prepared INSERT (one row, or 100 rows in one
 *   `unnest` statement) and, for reads, a raw keyset SELECT on the primary key; same role, same table, same pool;
 * - `peer`: Emmett's PostgreSQL event store (`@event-driven-io/emmett-postgresql`) in a second fresh database: it
 *   creates its own schema (DDL), so it logs in as the superuser. It runs in a child process because Emmett replaces
 *   `pg`'s int8 and jsonb type parsers for the whole process (DESIGN §3), which would change what the others measure.
 *
 * Experiments (`x: …` rows): copies of the adapter's SQL with one change each, to show where its time goes.
 *
 * The machine is shared, so every figure is a median over rounds (5 for appends, 3 for reads, by default) and the
 * comparisons are paired: within a round the adapter, the limit and the experiments share one warmed-up pool and run
 * in mirrored slices (A B C C B A, reversed in odd rounds); the peer runs right before or after them (alternating).
 * Reads interleave the local readers in slices of 10 pages; the peer reads in a phase of its own. Ratios are medians
 * of the per-round ratios. Both databases are dropped at the end, also on failure or Ctrl-C.
 *
 * Knobs (environment): BENCH_DATABASE_URL (a superuser login; default DATABASE_URL, then
 * postgres://postgres@127.0.0.1:5432/postgres), BENCH_ROUNDS, BENCH_READ_ROUNDS, BENCH_SCALE (multiplies the append
 * counts; 0.1 for a smoke run), BENCH_ONLY (scenario names or kinds, separated by ';'), BENCH_EXPERIMENTS=0 to skip
 * the experiments.
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
import { serverFacts, withClient } from './bench-support';

// ---------------------------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------------------------

const ADMIN_URL =
  process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 5));
/** Fewer rounds for reads: the peer's catch-up read alone takes 15–25 s a round on the reference machine. */
const READ_ROUNDS = Math.max(1, Number(process.env.BENCH_READ_ROUNDS ?? Math.min(ROUNDS, 3)));
const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(';').map((s) => s.trim())) : null;
const EXPERIMENTS = process.env.BENCH_EXPERIMENTS !== '0';
const READ_TOTAL = 100_000;
const READ_PAGE = 1_000;
const READ_SLICE_PAGES = 10;
/** A stalled gate (a transaction left open anywhere on the cluster) must not hang the benchmark. */
const READ_STALL_MS = 20_000;

interface AppendScenario {
  readonly kind: 'append';
  readonly name: string;
  readonly concurrency: number;
  /** Events per append; every append creates a new stream (expected revision `no_stream`). */
  readonly batchSize: number;
  /** Timed appends per implementation, over all rounds. */
  readonly appends: number;
  /** Untimed appends per implementation and round, first: every connection opens and prepares its statements. */
  readonly warmup: number;
}

interface ReadScenario {
  readonly kind: 'read';
  readonly name: string;
  readonly total: number;
  readonly page: number;
}

type Scenario = AppendScenario | ReadScenario;

const scaled = (n: number) => Math.max(ROUNDS * 2, Math.round(n * SCALE));

const SCENARIOS: readonly Scenario[] = [
  { kind: 'append', name: 'append 1 event, c=1', concurrency: 1, batchSize: 1, appends: scaled(2_000), warmup: 50 },
  { kind: 'append', name: 'append 1 event, c=8', concurrency: 8, batchSize: 1, appends: scaled(4_000), warmup: 160 },
  { kind: 'append', name: 'append 1 event, c=32', concurrency: 32, batchSize: 1, appends: scaled(8_000), warmup: 320 },
  { kind: 'append', name: 'append 100 events, c=1', concurrency: 1, batchSize: 100, appends: scaled(300), warmup: 5 },
  { kind: 'append', name: 'append 100 events, c=8', concurrency: 8, batchSize: 100, appends: scaled(600), warmup: 24 },
  { kind: 'read', name: `catch-up read, ${READ_TOTAL / 1000}k events in pages of ${READ_PAGE}`, total: READ_TOTAL, page: READ_PAGE },
];

type Impl = 'adapter' | 'limit' | 'peer' | `x: ${string}`;

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

const rate = (m: Measurement) => (m.events / m.ms) * 1000;

/** Set on Ctrl-C or SIGTERM: the databases are being dropped, so errors from the aborted work are expected. */
let interrupted = false;

/** A pool whose idle connections may be terminated (e.g. by the clean-up's DROP DATABASE … WITH (FORCE)). */
function openPool(url: string, max: number): Pool {
  const pool = new Pool({ connectionString: url, max });
  pool.on('error', (error) => {
    if (!interrupted) console.error(`idle connection error: ${error.message}`);
  });
  return pool;
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
type AppendOpFactory = (pool: Pool) => AppendOp;

/**
 * One round of appends on one pool sized to the concurrency: every implementation warms up (each connection
 * prepares its statements), then each runs two timed slices in mirrored order — A B C C B A, or C B A A B C in odd
 * rounds — so that load from elsewhere on the machine and the growing table hit them alike. Events are made before
 * the clock starts.
 */
async function appendRound(
  url: string,
  s: AppendScenario,
  appends: number,
  impls: readonly (readonly [Impl, AppendOpFactory])[],
  round: number,
): Promise<Map<Impl, Measurement>> {
  const pool = openPool(url, s.concurrency);
  try {
    const ops = impls.map(([impl, factory]) => [impl, factory(pool)] as const);
    for (const [, op] of ops) await runConcurrently(makeBatches(s.warmup, s.batchSize), s.concurrency, op);
    const forward = ops.map((_, i) => i);
    const order = round % 2 === 0 ? [...forward, ...forward.slice().reverse()] : [...forward.slice().reverse(), ...forward];
    const sliceSize = Math.ceil(appends / 2);
    const slices = order.map((i, k) => ({ i, batches: makeBatches(k < ops.length ? sliceSize : appends - sliceSize, s.batchSize) }));
    const totals = new Map<Impl, Measurement>();
    for (const { i, batches } of slices) {
      const [impl, op] = ops[i]!;
      const ms = await runConcurrently(batches, s.concurrency, op);
      const before = totals.get(impl) ?? { events: 0, ms: 0 };
      totals.set(impl, { events: before.events + batches.length * s.batchSize, ms: before.ms + ms });
    }
    return totals;
  } finally {
    await pool.end();
  }
}

/** A reader pages forward from the start of the log; `next` reads one page and returns how many events it got. */
interface Reader {
  next(): Promise<number>;
  close(): Promise<void>;
}

/** Reads `pages` pages (fewer if `remaining` is reached), timed; waits out a stalled gate up to READ_STALL_MS. */
async function readSlice(reader: Reader, pages: number, remaining: number): Promise<Measurement> {
  let events = 0;
  let ms = 0;
  let stalledSince: number | null = null;
  for (let p = 0; p < pages && events < remaining; ) {
    const started = performance.now();
    const n = await reader.next();
    ms += performance.now() - started;
    if (n > 0) {
      events += n;
      p += 1;
      stalledSince = null;
      continue;
    }
    stalledSince ??= performance.now();
    if (performance.now() - stalledSince > READ_STALL_MS) {
      throw new Error('A read stalled: a transaction open somewhere on the cluster holds back pg_snapshot_xmin.');
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return { events, ms };
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

/** The same columns the adapter reads, in primary-key order, without the adapter's visibility gate. */
const LIMIT_READ = {
  name: 'bench_limit_read',
  text: `select position, transaction_id, id, stream_id, revision, type, data, metadata
           from events where position > $1 order by position limit $2`,
};

const limitAppendOp: AppendOpFactory = (pool) => async ({ streamId, events }) => {
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

function limitReader(pool: Pool, page: number): Reader {
  let after = '0';
  return {
    async next() {
      const { rows } = await pool.query<{ position: string }>({ ...LIMIT_READ, values: [after, page] });
      if (rows.length > 0) after = rows[rows.length - 1]!.position;
      return rows.length;
    },
    close: async () => undefined,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The adapter
// ---------------------------------------------------------------------------------------------------------------

const adapterAppendOp: AppendOpFactory = (pool) => {
  const store = new PostgresEventStore(pool);
  return ({ streamId, events }) => store.append(streamId, events, 'no_stream');
};

function adapterReader(pool: Pool, page: number): Reader {
  const store = new PostgresEventStore(pool);
  let from: Position = START;
  return {
    async next() {
      const events = await store.readAll(from, { maxCount: page });
      if (events.length > 0) from = events[events.length - 1]!.position;
      return events.length;
    },
    close: async () => undefined,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Experiments: copies of the adapter's SQL (libs/infra/src/event-store/postgres/postgres-event-store.sql.ts) with
// one change each, run in the same rounds, to see where the adapter's time goes. Diagnostics, not the adapter.
// ---------------------------------------------------------------------------------------------------------------

/**
 * The adapter's APPEND without the current-revision read and the CTEs around it: `no_stream` is left to the
 * `(stream_id, revision)` unique index (revision 0 must be free), which the adapter already maps to
 * WrongExpectedRevisionError. Same single jsonb parameter, same RETURNING.
 */
const X_APPEND_NO_READ = {
  name: 'bench_x_append_no_read',
  text: `
    insert into events (id, stream_id, revision, type, org_id, data, metadata)
    select (e.doc ->> 'id')::uuid, $1, e.ord - 1, e.doc ->> 'type',
           (e.doc -> 'metadata' ->> 'orgId')::uuid, e.doc -> 'data', e.doc -> 'metadata'
      from jsonb_array_elements($2::jsonb) with ordinality as e(doc, ord)
     order by e.ord
    returning revision, position, transaction_id`,
};

/** One event as typed parameters (no jsonb array to pick apart), `no_stream` left to the unique index. */
const X_APPEND_ONE_TYPED = {
  name: 'bench_x_append_one_typed',
  text: `
    insert into events (id, stream_id, revision, type, org_id, data, metadata)
    values ($1, $2, 0, $3, $4, $5, $6)
    returning revision, position, transaction_id`,
};

const xAppendNoRead: AppendOpFactory = (pool) => ({ streamId, events }) =>
  pool.query({
    ...X_APPEND_NO_READ,
    values: [streamId, JSON.stringify(events.map((e) => ({ id: e.id, type: e.type, data: e.data, metadata: e.metadata })))],
  });

const xAppendOneTyped: AppendOpFactory = (pool) => ({ streamId, events }) => {
  const e = events[0]!;
  return pool.query({
    ...X_APPEND_ONE_TYPED,
    values: [e.id, streamId, e.type, e.metadata.orgId, JSON.stringify(e.data), JSON.stringify(e.metadata)],
  });
};

function appendExperiments(s: AppendScenario): (readonly [Impl, AppendOpFactory])[] {
  if (!EXPERIMENTS) return [];
  const experiments: (readonly [Impl, AppendOpFactory])[] = [['x: APPEND without the current-revision read', xAppendNoRead]];
  if (s.batchSize === 1) experiments.push(['x: one event as typed parameters, no read', xAppendOneTyped]);
  return experiments;
}

const READ_COLUMNS = 'position, transaction_id, id, stream_id, revision, type, data, metadata';

/** The adapter's READ_ALL without the visibility gate: what the gate costs (not a correct subscription read). */
const X_READ_NO_GATE = {
  name: 'bench_x_read_no_gate',
  text: `
    select ${READ_COLUMNS} from events
     where (transaction_id, position) > ($1::xid8, $2::bigint)
     order by transaction_id, position
     limit $3`,
};

/** The adapter's READ_ALL as is, rows left as `pg` parses them (no mapping to RecordedEvent): a control. */
const X_READ_UNMAPPED = {
  name: 'bench_x_read_unmapped',
  text: `
    select ${READ_COLUMNS} from events
     where (transaction_id, position) > ($1::xid8, $2::bigint)
       and transaction_id < pg_snapshot_xmin(pg_current_snapshot())
     order by transaction_id, position
     limit $3`,
};

function experimentalReader(statement: { name: string; text: string }) {
  return (pool: Pool, page: number): Reader => {
    let tx = '0';
    let pos = '0';
    return {
      async next() {
        const { rows } = await pool.query<{ transaction_id: string; position: string }>({ ...statement, values: [tx, pos, page] });
        if (rows.length > 0) {
          tx = rows[rows.length - 1]!.transaction_id;
          pos = rows[rows.length - 1]!.position;
        }
        return rows.length;
      },
      close: async () => undefined,
    };
  };
}

const READ_EXPERIMENTS: ReadonlyArray<readonly [Impl, (pool: Pool, page: number) => Reader]> = [
  ['x: READ_ALL, rows not mapped to RecordedEvent', experimentalReader(X_READ_UNMAPPED)],
  ['x: READ_ALL without the xmin gate, not mapped', experimentalReader(X_READ_NO_GATE)],
];

// ---------------------------------------------------------------------------------------------------------------
// The peer: Emmett, in a child process (see the header); a small request/reply protocol over the IPC channel.
// ---------------------------------------------------------------------------------------------------------------

type PeerRequest =
  | { readonly op: 'setup'; readonly url: string }
  | { readonly op: 'append'; readonly scenario: AppendScenario; readonly appends: number }
  | { readonly op: 'readOpen'; readonly page: number }
  | { readonly op: 'readSlice'; readonly pages: number; readonly remaining: number }
  | { readonly op: 'readClose' }
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
  // Emmett's SQL executor library (a dependency of emmett-postgresql): its catch-up primitive `readMessagesBatch`,
  // which its consumers poll, takes an executor.
  const { dumbo } = await import('@event-driven-io/dumbo');
  let url = '';
  let reader: Reader | null = null;

  const toEmmett = (events: readonly NewEvent[]) =>
    events.map((e) => ({ type: e.type, data: e.data as Record<string, unknown>, metadata: { ...e.metadata, messageId: e.id } }));

  const appendOp: AppendOpFactory = (pool) => {
    const store = emmett.getPostgreSQLEventStore(url, { connectionOptions: { pool }, schema: { autoMigration: 'None' } });
    // Expected version 0n (PostgreSQLEventStoreDefaultStreamVersion) is Emmett's "the stream must be new": it inserts
    // the stream row and fails on a duplicate (STREAM_DOES_NOT_EXIST would not check; DESIGN §3).
    return ({ streamId, events }) =>
      store.appendToStream(streamId, toEmmett(events), { expectedStreamVersion: emmett.PostgreSQLEventStoreDefaultStreamVersion });
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

  async function handle(request: PeerRequest): Promise<unknown> {
    switch (request.op) {
      case 'setup': {
        url = request.url;
        const pool = openPool(url, 2);
        try {
          await emmett.getPostgreSQLEventStore(url, { connectionOptions: { pool } }).schema.migrate();
        } finally {
          await pool.end();
        }
        return null;
      }
      case 'append':
        return (await appendRound(url, request.scenario, request.appends, [['peer', appendOp]], 0)).get('peer');
      case 'readOpen': {
        const pool = openPool(url, 1);
        const db = dumbo({ connectionString: url, pool });
        const page = request.page;
        let after = 0n;
        const make = (): Reader => ({
          async next() {
            const batch = await emmett.readMessagesBatch(db.execute, { after, batchSize: page });
            after = batch.currentGlobalPosition;
            return batch.messages.length;
          },
          close: () => pool.end(),
        });
        reader = make();
        for (let i = 0; i < 3; i += 1) await reader.next(); // warm-up: connect, first pages
        after = 0n;
        return null;
      }
      case 'readSlice':
        return readSlice(reader!, request.pages, request.remaining);
      case 'readClose':
        await reader?.close();
        reader = null;
        return null;
      case 'seed': {
        const missing = request.atLeast - (await count());
        if (missing > 0) {
          const appends = Math.ceil(missing / 100);
          await appendRound(url, { kind: 'append', name: 'seed', concurrency: 4, batchSize: 100, appends, warmup: 0 }, appends, [['peer', appendOp]], 0);
        }
        return count();
      }
      case 'count':
        return count();
    }
  }

  process.on('disconnect', () => process.exit(1));
  process.on('message', ({ id, request }: PeerEnvelope) => {
    handle(request).then(
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

  /** Emmett's catch-up reader, in the child; slices are timed there (the IPC hop is not Emmett's cost). */
  reader(page: number) {
    return {
      open: () => this.call<null>({ op: 'readOpen', page }),
      slice: (pages: number, remaining: number) => this.call<Measurement>({ op: 'readSlice', pages, remaining }),
      close: () => this.call<null>({ op: 'readClose' }),
    };
  }

  stop(): void {
    if (this.child.exitCode === null) this.child.kill();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Databases
// ---------------------------------------------------------------------------------------------------------------


const createdDatabases: string[] = [];

async function createDatabase(name: string): Promise<string> {
  if (!/^bastion_bench_[a-z0-9_]+$/.test(name)) throw new Error(`Refusing to create ${name}`);
  createdDatabases.push(name);
  await withClient(ADMIN_URL, (c) => c.query(`create database ${name}`));
  return withDatabase(ADMIN_URL, name);
}

async function dropDatabases(): Promise<void> {
  const names = createdDatabases.splice(0);
  if (names.length === 0) return;
  await withClient(ADMIN_URL, async (c) => {
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

const countRows = (url: string, table: string) =>
  withClient(url, async (c) => Number((await c.query<{ n: string }>(`select count(*) as n from ${table}`)).rows[0]!.n));

// ---------------------------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------------------------

/** scenario -> implementation -> one measurement per round */
type Results = Map<string, Map<Impl, Measurement[]>>;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const fmtRate = (v: number | undefined) => (v === undefined ? '—' : Math.round(v).toLocaleString('en'));
const fmtRatio = (v: number | undefined) => (v === undefined ? '—' : `${v.toFixed(2)}×`);

/** Median over rounds of a's rate ÷ b's rate in the same round. */
function pairedRatio(a: readonly Measurement[] | undefined, b: readonly Measurement[] | undefined): number | undefined {
  if (!a || !b || a.length !== b.length) return undefined;
  return median(a.map((m, i) => rate(m) / rate(b[i]!)));
}

function printTable(results: Results): void {
  const header = ['scenario', 'Bastion adapter', 'plain-SQL limit', 'Emmett (peer)', 'adapter ÷ limit', 'adapter ÷ peer', 'peer ÷ limit'];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`];
  for (const [scenario, byImpl] of results) {
    const m = (impl: Impl) => (byImpl.get(impl) ? median(byImpl.get(impl)!.map(rate)) : undefined);
    lines.push(
      `| ${scenario} | ${fmtRate(m('adapter'))} | ${fmtRate(m('limit'))} | ${fmtRate(m('peer'))} | ` +
        `${fmtRatio(pairedRatio(byImpl.get('adapter'), byImpl.get('limit')))} | ` +
        `${fmtRatio(pairedRatio(byImpl.get('adapter'), byImpl.get('peer')))} | ` +
        `${fmtRatio(pairedRatio(byImpl.get('peer'), byImpl.get('limit')))} |`,
    );
    for (const [impl, runs] of byImpl) {
      if (!impl.startsWith('x: ')) continue;
      lines.push(
        `| ↳ experiment: ${impl.slice(3)} | ${fmtRate(median(runs.map(rate)))} | ${fmtRate(m('limit'))} | — | ` +
          `${fmtRatio(pairedRatio(runs, byImpl.get('limit')))} | — | — |`,
      );
    }
  }
  console.log(
    `\nEvents per second, median over ${ROUNDS} round(s) for appends and ${READ_ROUNDS} for reads; ` +
      'ratios are medians of the per-round ratios.\n',
  );
  console.log(lines.join('\n'));
  console.log('\nEvery round (events/s):');
  for (const [scenario, byImpl] of results) {
    for (const [impl, runs] of byImpl) {
      console.log(`  ${scenario.padEnd(42)} ${impl.padEnd(44)} ${runs.map((r) => fmtRate(rate(r)).padStart(8)).join(' ')}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------------------------


async function main(): Promise<void> {
  // Output piped into `head` must not kill the run before it drops its databases.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
  });
  const started = performance.now();
  const suffix = randomBytes(4).toString('hex');
  console.log(
    `Bastion event-store benchmark, ${new Date().toISOString()}\n` +
      `node ${process.version}, ${cpus().length} CPU(s) ${cpus()[0]?.model ?? ''}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM; ` +
      `${await serverFacts(ADMIN_URL)} at ${redactUrl(ADMIN_URL)}\n` +
      `rounds=${ROUNDS} (reads ${READ_ROUNDS}), scale=${SCALE}, experiments=${EXPERIMENTS ? 'on' : 'off'}`,
  );

  const peer = await Peer.start();
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    console.error(`\n${signal}: dropping the benchmark databases`);
    // The drop terminates the connections of the work in flight; what that work throws now is expected.
    process.on('uncaughtException', () => undefined);
    process.on('unhandledRejection', () => undefined);
    peer.stop();
    void dropDatabases().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    // Bastion: a fresh database, the cluster roles, the migrations; the adapter and the limit run as bastion_worker.
    const bastionAdminUrl = await createDatabase(`bastion_bench_${suffix}`);
    await bootstrapRoles(ADMIN_URL);
    const { applied } = await migrate(bastionAdminUrl);
    const workerUrl = roleUrl(bastionAdminUrl, 'bastion_worker');
    // The peer: a fresh database of its own; Emmett creates its schema (DDL), so it logs in as the superuser.
    const peerUrl = await createDatabase(`bastion_bench_${suffix}_peer`);
    await peer.call({ op: 'setup', url: peerUrl });
    console.log(
      `databases: bastion_bench_${suffix} (${applied.length} migrations, the last ${applied[applied.length - 1] ?? '—'}; ` +
        `adapter and limit as bastion_worker); bastion_bench_${suffix}_peer (Emmett, as the superuser login, ` +
        'which its schema creation needs)\n',
    );

    const results: Results = new Map();
    const record = (scenario: string, impl: Impl, round: number, m: Measurement) => {
      const byImpl = results.get(scenario) ?? new Map<Impl, Measurement[]>();
      results.set(scenario, byImpl);
      const runs = byImpl.get(impl) ?? [];
      byImpl.set(impl, runs);
      runs.push(m);
      console.log(
        `  ${scenario.padEnd(42)} round ${round + 1}  ${impl.padEnd(44)} ${fmtRate(rate(m)).padStart(8)} events/s ` +
          `(${m.events} in ${Math.round(m.ms)} ms)`,
      );
    };

    for (const s of SCENARIOS) {
      if (ONLY && !ONLY.has(s.name) && !ONLY.has(s.kind)) continue;
      if (s.kind === 'append') {
        const perRound = Math.ceil(s.appends / ROUNDS);
        for (let round = 0; round < ROUNDS; round += 1) {
          const local: (readonly [Impl, AppendOpFactory])[] = [['adapter', adapterAppendOp], ['limit', limitAppendOp], ...appendExperiments(s)];
          const localRound = () => appendRound(workerUrl, s, perRound, local, round);
          const peerRun = () => peer.call<Measurement>({ op: 'append', scenario: s, appends: perRound });
          if (round % 2 === 0) {
            for (const [impl, m] of await localRound()) record(s.name, impl, round, m);
            record(s.name, 'peer', round, await peerRun());
          } else {
            const p = await peerRun();
            for (const [impl, m] of await localRound()) record(s.name, impl, round, m);
            record(s.name, 'peer', round, p);
          }
        }
      } else {
        await readScenario(s, { workerUrl, bastionAdminUrl, peerUrl, peer, record });
      }
    }

    printTable(results);
    console.log(
      `\nBastion events: ${await countRows(bastionAdminUrl, 'events')} rows; Emmett messages: ${await peer.call<number>({ op: 'count' })} rows.` +
        `\nTotal time ${((performance.now() - started) / 1000).toFixed(0)} s.`,
    );
  } finally {
    peer.stop();
    await dropDatabases();
  }
}

interface ReadContext {
  readonly workerUrl: string;
  readonly bastionAdminUrl: string;
  readonly peerUrl: string;
  readonly peer: Peer;
  readonly record: (scenario: string, impl: Impl, round: number, m: Measurement) => void;
}

/**
 * Catch-up reads of `total` events from the start of the log. Both stores are topped up to a little more than
 * `total` first (the append scenarios usually wrote enough), then VACUUM ANALYZE'd so that no reader pays for the
 * writers' hint bits.
 */
async function readScenario(s: ReadScenario, ctx: ReadContext): Promise<void> {
  const atLeast = s.total + s.page * 10;
  const have = await countRows(ctx.workerUrl, 'events');
  if (have < atLeast) {
    const appends = Math.ceil((atLeast - have) / 100);
    await appendRound(ctx.workerUrl, { kind: 'append', name: 'seed', concurrency: 4, batchSize: 100, appends, warmup: 0 }, appends, [['limit', limitAppendOp]], 0);
  }
  const peerRows = await ctx.peer.call<number>({ op: 'seed', atLeast });
  await withClient(ctx.bastionAdminUrl, (c) => c.query('vacuum analyze events'));
  await withClient(ctx.peerUrl, (c) => c.query('vacuum analyze emt_messages'));
  console.log(`  read setup: ${await countRows(ctx.bastionAdminUrl, 'events')} Bastion events, ${peerRows} Emmett messages; vacuumed`);

  const local: (readonly [Impl, (pool: Pool, page: number) => Reader])[] = [
    ['adapter', adapterReader],
    ['limit', limitReader],
    ...(EXPERIMENTS ? READ_EXPERIMENTS : []),
  ];
  for (let round = 0; round < READ_ROUNDS; round += 1) {
    // The peer reads in a phase of its own (before or after the others, alternating): its sequential scans evict
    // what the other readers have cached, so whichever reader followed it in an interleaving would pay for that.
    if (round % 2 === 1) ctx.record(s.name, 'peer', round, await peerRead(s, ctx.peer));
    for (const [impl, m] of await localReadRound(s, ctx.workerUrl, local, round)) ctx.record(s.name, impl, round, m);
    if (round % 2 === 0) ctx.record(s.name, 'peer', round, await peerRead(s, ctx.peer));
  }
}

/**
 * The local readers take turns on one connection, READ_SLICE_PAGES pages at a time, all advancing through the same
 * rows together. The turn order follows a Williams design (each reader goes first equally often and follows every
 * other reader equally often), so cache warmth and load spikes do not favour one of them.
 */
async function localReadRound(
  s: ReadScenario,
  workerUrl: string,
  local: readonly (readonly [Impl, (pool: Pool, page: number) => Reader])[],
  round: number,
): Promise<Map<Impl, Measurement>> {
  const pool = openPool(workerUrl, 1);
  try {
    // Warm-up on throwaway readers: the connection, the prepared statements, the first pages.
    for (const [, make] of local) await readSlice(make(pool, s.page), 3, Infinity);
    const lanes = local.map(([impl, make]) => ({ impl, reader: make(pool, s.page), total: { events: 0, ms: 0 } }));
    const orders = williamsDesign(lanes.length);
    for (let k = 0; lanes.some((l) => l.total.events < s.total); k += 1) {
      for (const index of orders[(k + round) % orders.length]!) {
        const lane = lanes[index]!;
        if (lane.total.events >= s.total) continue;
        const m = await readSlice(lane.reader, READ_SLICE_PAGES, s.total - lane.total.events);
        lane.total = { events: lane.total.events + m.events, ms: lane.total.ms + m.ms };
      }
    }
    return new Map(lanes.map((l) => [l.impl, l.total]));
  } finally {
    await pool.end();
  }
}

async function peerRead(s: ReadScenario, peer: Peer): Promise<Measurement> {
  const reader = peer.reader(s.page);
  await reader.open();
  try {
    let total: Measurement = { events: 0, ms: 0 };
    while (total.events < s.total) {
      const m = await reader.slice(READ_SLICE_PAGES, s.total - total.events);
      total = { events: total.events + m.events, ms: total.ms + m.ms };
    }
    return total;
  } finally {
    await reader.close().catch(() => undefined);
  }
}

/** Orders of 0…n-1, balanced for position and for first-order carry-over (Williams, 1949). */
function williamsDesign(n: number): number[][] {
  const rows: number[][] = [];
  for (let i = 0; i < n; i += 1) {
    const row = [i];
    for (let j = 1; j < n; j += 1) {
      const step = j % 2 === 1 ? (j + 1) / 2 : -j / 2;
      row.push((((i + step) % n) + n) % n);
    }
    rows.push(row);
  }
  return n % 2 === 1 ? [...rows, ...rows.map((r) => [...r].reverse())] : rows;
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
      if (interrupted) return; // the signal handler exits once the databases are dropped
      console.error(error);
      process.exit(1);
    },
  );
}
