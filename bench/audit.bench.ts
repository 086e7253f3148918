/**
 * Audit-trail benchmark (docs/performance.md, "Audit").
 *
 *   npm run bench:audit
 *   npx swc apps libs bench -d dist --quiet && node dist/bench/audit.bench.js
 *
 * On a fresh database (`bastion_bench_audit_<random>`: cluster roles bootstrapped, migrations applied, dropped at
 * the end, also on failure or Ctrl-C) it loads BENCH_EVENTS (1,000,000) events of one organisation with set-based
 * SQL (libs/infra/src/audit/testing/seed-audit-trail.ts, the loader of the 1M-event export test) and measures:
 *
 * - `seal`: the real Sealer (production settings: batches of 500, a checkpoint every 1,000 events) sealing the whole
 *   log, on its own — nothing else writes meanwhile — in events/s;
 * - `export`: the real worker process (dist/apps/worker) writing the JSONL export file of the whole chain for an
 *   `audit-exports` job, its final checkpoint signed by the sealer on request: events/s, and the worker's peak
 *   resident set (VmHWM) before and after;
 * - `verify`: `bastion audit verify <file> --keys <file>` (dist/apps/cli) over that file: events/s and its peak RSS;
 * - the sustained single-event append rate, measured in the same run by bench/event-store.bench.ts itself (a
 *   child run limited to its `append 1 event` scenarios, adapter column), and the ratio seal ÷ append: the sealer
 *   has to keep up with the fastest of them.
 *
 * Knobs (environment): BENCH_DATABASE_URL (a superuser login; default DATABASE_URL, then
 * postgres://postgres@127.0.0.1:5432/postgres), REDIS_URL, BENCH_EVENTS, BENCH_APPEND=0 to skip the append run,
 * BENCH_APPEND_ROUNDS (rounds of the event-store run, default 3).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Redis from 'ioredis';
import { Pool } from 'pg';
import { AuditKeyDirectory, auditExportStreamId } from '../libs/infra/src/audit';
import { sealedCount, seedAuditEvents } from '../libs/infra/src/audit/testing/seed-audit-trail';
import { Sealer } from '../libs/infra/src/audit-sealer/sealer';
import { bootstrapRoles } from '../libs/infra/src/database/bootstrap-roles';
import { migrate } from '../libs/infra/src/database/migrate';
import { redactUrl, roleUrl, withDatabase } from '../libs/infra/src/database/role-urls';
import { JobQueue } from '../libs/infra/src/queue/job-queue';
import { JsonLogger } from '../libs/infra/src/runtime/logger';
import { QUEUES } from '../libs/infra/src/queue/queues';
import { dropRedisPrefix, serverFacts, withClient } from './bench-support';

const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const APPEND = process.env.BENCH_APPEND !== '0';
const APPEND_ROUNDS = process.env.BENCH_APPEND_ROUNDS ?? '3';
const APPEND_SCENARIOS = ['append 1 event, c=1', 'append 1 event, c=8', 'append 1 event, c=32'];
const DIST = join(__dirname, '..');
const MB = 1024 * 1024;

const fmt = (n: number) => Math.round(n).toLocaleString('en');
const mb = (bytes: number) => `${(bytes / MB).toFixed(0)} MB`;
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');

// ---------------------------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------------------------

/** Peak (VmHWM) and current (VmRSS) resident set of a running process, from /proc (Linux). */
function memoryOf(pid: number): { peak: number; current: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)![1]) * 1024;
    return { peak: kb('VmHWM'), current: kb('VmRSS') };
  } catch {
    return undefined; // it has exited
  }
}

interface Child {
  readonly child: ChildProcess;
  output(): string;
  readonly exited: Promise<number | null>;
  /** The last peak RSS read while it ran (sampled every 50 ms, so a process's exit does not lose it). */
  peak(): number;
}

function run(script: string, args: readonly string[], env: Record<string, string>): Child {
  const child = spawn(process.execPath, [join(DIST, script), ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let peak = 0;
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const sampler = setInterval(() => (peak = Math.max(peak, memoryOf(child.pid!)?.peak ?? 0)), 50);
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      clearInterval(sampler);
      resolve(code);
    }),
  );
  return { child, output: () => out, exited, peak: () => peak };
}

async function until(probe: () => Promise<boolean>, what: string, timeoutMs: number, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The append rate: bench/event-store.bench.ts, run as it is, limited to its single-event append scenarios
// ---------------------------------------------------------------------------------------------------------------

async function appendRates(): Promise<Map<string, number>> {
  const child = run('bench/event-store.bench.js', [], {
    BENCH_DATABASE_URL: ADMIN_URL,
    BENCH_ONLY: APPEND_SCENARIOS.join(';'),
    BENCH_EXPERIMENTS: '0',
    BENCH_ROUNDS: APPEND_ROUNDS,
  });
  const code = await child.exited;
  if (code !== 0) throw new Error(`bench/event-store.bench.js failed (${code}):\n${child.output()}`);
  const rates = new Map<string, number>();
  for (const scenario of APPEND_SCENARIOS) {
    // | append 1 event, c=8 | 1,234 | … : the Bastion adapter's median events/s.
    const row = child.output().split('\n').find((line) => line.startsWith(`| ${scenario} |`));
    if (row) rates.set(scenario, Number(row.split('|')[2]!.trim().replace(/,/g, '')));
  }
  return rates;
}

// ---------------------------------------------------------------------------------------------------------------
// Database
// ---------------------------------------------------------------------------------------------------------------

let createdDatabase: string | null = null;
let interrupted = false;


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



// ---------------------------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
  });
  const started = performance.now();
  console.log(
    `Bastion audit benchmark, ${new Date().toISOString()}\n` +
      `node ${process.version}, ${cpus().length} CPU(s) ${cpus()[0]?.model ?? ''}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, ` +
      `load ${load()}; ${await serverFacts(ADMIN_URL)} at ${redactUrl(ADMIN_URL)}\nevents=${fmt(EVENTS)}`,
  );
  const dir = mkdtempSync(join(tmpdir(), 'bastion-bench-audit-'));
  const prefix = `bastion-bench-audit:${randomBytes(3).toString('hex')}`;
  const children: Child[] = [];
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    console.error(`\n${signal}: dropping the benchmark database`);
    process.on('uncaughtException', () => undefined);
    process.on('unhandledRejection', () => undefined);
    children.forEach((c) => c.child.kill());
    void dropDatabase().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  let sealer: Sealer | undefined;
  const redis: Redis[] = [];
  let admin: Pool | undefined;
  let sealerPool: Pool | undefined;
  try {
    // 1. The append rate first, in a database of its own, while nothing else of this run is busy.
    const rates = APPEND ? await appendRates() : new Map<string, number>();
    for (const [scenario, rate] of rates) console.log(`append rate (bench/event-store.bench.ts, adapter): ${scenario}: ${fmt(rate)} events/s`);

    const name = `bastion_bench_audit_${randomBytes(4).toString('hex')}`;
    createdDatabase = name;
    await withClient(ADMIN_URL, (c) => c.query(`create database ${name}`));
    const adminUrl = withDatabase(ADMIN_URL, name);
    await bootstrapRoles(ADMIN_URL);
    const { applied } = await migrate(adminUrl);
    console.log(`database ${name}: ${applied.length} migrations, the last ${applied[applied.length - 1] ?? '—'}`);
    admin = new Pool({ connectionString: adminUrl, max: 2 });
    const orgId = randomUUID();

    let t = performance.now();
    await seedAuditEvents(admin, orgId, EVENTS);
    await admin.query('vacuum analyze events');
    console.log(`load: ${fmt(EVENTS)} events in ${((performance.now() - t) / 1000).toFixed(1)} s (set-based SQL, not measured)`);

    // 2. The sealer on its own, production settings.
    const keys = await new AuditKeyDirectory(join(dir, 'keys')).loadOrGenerate(new Date());
    sealerPool = new Pool({ connectionString: roleUrl(adminUrl, 'bastion_sealer'), max: 4 });
    sealer = new Sealer(sealerPool, keys, { checkpointEvery: 1000, checkpointSeconds: 60, verifySeconds: 0, redisPrefix: prefix, logger: new JsonLogger('sealer', 'warn') });
    await sealer.publishKeys();
    t = performance.now();
    sealer.start();
    let shown = performance.now();
    await until(
      async () => {
        const n = await sealedCount(admin!, orgId);
        if (performance.now() - shown > 10_000) {
          shown = performance.now();
          console.log(`  sealed ${fmt(n)} (${fmt(n / ((shown - t) / 1000))} events/s so far)`);
        }
        return n >= EVENTS;
      },
      'the sealer',
      3_600_000,
      50,
    );
    const sealSeconds = (performance.now() - t) / 1000;
    const sealRate = EVENTS / sealSeconds;
    console.log(`seal: ${fmt(EVENTS)} events in ${sealSeconds.toFixed(1)} s = ${fmt(sealRate)} events/s (load ${load()})`);
    await sealer.stop();
    // It keeps answering sign requests for the export.
    sealer = new Sealer(sealerPool, keys, { checkpointEvery: 1000, checkpointSeconds: 60, verifySeconds: 0, redisPrefix: prefix });
    redis.push(new Redis(REDIS_URL), new Redis(REDIS_URL));
    await sealer.serveSignRequests(redis[0]!, redis[1]!);

    // 3. The export, by the real worker process, for a job as the API enqueues it.
    const worker = run('apps/worker/src/main.js', [], {
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      DATABASE_URL: adminUrl,
      REDIS_URL,
      REDIS_PREFIX: prefix,
      AUDIT_EXPORTS_DIR: join(dir, 'exports'),
    });
    children.push(worker);
    await until(async () => worker.output().includes('worker running'), 'the worker', 30_000);
    const before = memoryOf(worker.child.pid!)!;
    const exportId = randomUUID();
    const { rows } = await admin.query<{ last: string }>(`select count::text as last from audit.chain_heads where chain = 'org:' || $1`, [orgId]);
    const requestId = randomUUID();
    await admin.query(
      `insert into events (id, stream_id, revision, type, org_id, data, metadata) values ($1, $2, 0, 'AuditExported', $3, $4, $5)`,
      [
        requestId,
        auditExportStreamId(exportId),
        orgId,
        { orgId, exportId, delivery: 'file', format: 'jsonl', from: null, to: null, fromCount: 1, toCount: Number(rows[0]!.last) },
        { orgId, actor: { type: 'human', id: randomUUID() }, occurredAt: new Date().toISOString(), correlationId: requestId, schemaVersion: 1 },
      ],
    );
    const queueConnection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    redis.push(queueConnection);
    const queue = new JobQueue(QUEUES.auditExports, queueConnection, prefix);
    t = performance.now();
    await queue.add(`audit-export-${exportId}`, { orgId, exportId, causationEventId: requestId, correlationId: requestId });
    await until(
      async () => (await admin!.query("select 1 from events where stream_id = $1 and type in ('AuditExportCompleted', 'AuditExportFailed')", [auditExportStreamId(exportId)])).rowCount === 1,
      'the export',
      3_600_000,
      50,
    );
    const exportSeconds = (performance.now() - t) / 1000;
    const after = memoryOf(worker.child.pid!)!;
    await queue.close();
    const outcome = (await admin.query("select type, data from events where stream_id = $1 and revision = 1", [auditExportStreamId(exportId)])).rows[0];
    if (outcome.type !== 'AuditExportCompleted' || outcome.data.finalCheckpoint === null) throw new Error(`the export did not complete: ${JSON.stringify(outcome)}\n${worker.output()}`);
    const file = join(dir, 'exports', orgId, `${exportId}.jsonl`);
    const bytes = statSync(file).size;
    const exported = Number(outcome.data.events);
    console.log(
      `export: ${fmt(exported)} events, ${mb(bytes)} in ${exportSeconds.toFixed(1)} s = ${fmt(exported / exportSeconds)} events/s; ` +
        `worker peak RSS ${mb(before.peak)} before, ${mb(after.peak)} after (load ${load()})`,
    );
    worker.child.kill('SIGTERM');
    await worker.exited;

    // 4. Offline verification of that file with the published keys, by the CLI.
    const jwks = join(dir, 'audit-keys.json');
    writeFileSync(jwks, JSON.stringify({ keys: (await admin.query('select public_jwk from audit.keys')).rows.map((r) => r.public_jwk) }));
    t = performance.now();
    const verifier = run('apps/cli/src/main.js', ['audit', 'verify', file, '--keys', jwks], {});
    children.push(verifier);
    const code = await verifier.exited;
    const verifySeconds = (performance.now() - t) / 1000;
    if (code !== 0) throw new Error(`verify failed (${code}): ${verifier.output()}`);
    console.log(`verify: ${verifier.output().trim().split('\n')[0]} in ${verifySeconds.toFixed(1)} s = ${fmt(exported / verifySeconds)} events/s; peak RSS ${mb(verifier.peak())}`);

    // Summary
    const fastest = Math.max(0, ...rates.values());
    console.log('\n| measure | events | seconds | events/s | peak RSS |');
    console.log('|---|---:|---:|---:|---:|');
    console.log(`| seal (on its own) | ${fmt(EVENTS)} | ${sealSeconds.toFixed(1)} | ${fmt(sealRate)} | — |`);
    console.log(`| export, JSONL file (worker) | ${fmt(exported)} | ${exportSeconds.toFixed(1)} | ${fmt(exported / exportSeconds)} | ${mb(after.peak)} (${mb(before.peak)} idle) |`);
    console.log(`| verify (CLI) | ${fmt(exported)} | ${verifySeconds.toFixed(1)} | ${fmt(exported / verifySeconds)} | ${mb(verifier.peak())} |`);
    for (const [scenario, rate] of rates) {
      console.log(`| ${scenario} (event-store bench, adapter) | — | — | ${fmt(rate)} | — |`);
    }
    if (fastest > 0) {
      console.log(`\nseal ÷ fastest single-event append rate = ${(sealRate / fastest).toFixed(2)}× (${sealRate >= fastest ? 'keeps up' : 'DOES NOT keep up'})`);
    }
    console.log(`export file ${mb(bytes)}; total time ${((performance.now() - started) / 1000).toFixed(0)} s`);
  } finally {
    children.forEach((c) => c.child.exitCode === null && c.child.kill());
    await sealer?.stop();
    redis.forEach((r) => r.disconnect());
    await sealerPool?.end().catch(() => undefined);
    await admin?.end();
    await dropDatabase();
    await dropRedisPrefix(REDIS_URL, prefix);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
