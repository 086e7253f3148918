/**
 * Field encryption benchmark (docs/performance.md, "Encryption").
 *
 *   npm run bench:crypto
 *   npx swc apps libs bench -d dist --quiet && node dist/bench/crypto.bench.js
 *
 * Two parts, each beside its limit in the same run:
 *
 * 1. Sealing and opening one sensitive field with the org's DEK already cached (libs/infra/src/crypto/envelope):
 *    `DataKeyCache.get` + `encryptField` (AAD org/record/field, token `v1.<version>.<base64url>`), and
 *    `DataKeyCache.get` + `decryptField` (token parsed and checked, AAD rebuilt). Limit: raw AES-256-GCM in
 *    `node:crypto` on the same key and plaintext — a random 12-byte nonce, `createCipheriv`, `setAAD` with a
 *    fixed 64-byte buffer, `final`, `getAuthTag` (and the reverse), no encoding at all. Plaintexts of 200 B (a short
 *    description), 4 KiB and 20,000 characters (the largest task description). Time-sliced rounds in mirrored order
 *    (A B B A, reversed in odd rounds); ops/s are medians over rounds, ratios medians of the per-round ratios.
 * 2. Unwrapping a DEK, the cost of a cache miss (every `BENCH_TTL` seconds per org and process, and every read with
 *    a TTL of 0): `LocalKms.unwrap` (reads and parses the keyring file on every call, then AES-256-GCM) and
 *    `GcpKms.unwrap` (the real `@google-cloud/kms` client, CRC32C checks, over gRPC) against the gRPC KMS test server
 *    on 127.0.0.1 — so the Google figure is the client's and the loopback's cost, not Google's network or service
 *    time. Sequential calls, the two adapters interleaved call by call, after a warm-up; p50/p99/mean.
 *
 * Prints the load average: the machine is shared; the ratios move much less than the absolute figures.
 * The local keyring lives in a temporary directory, removed at the end (also on failure or Ctrl-C).
 *
 * Knobs (environment): BENCH_ROUNDS (default 5), BENCH_SLICE_MS (default 500), BENCH_UNWRAPS (default 1000).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DataKeyCache, decryptField, encryptField, type FieldAad, generateDataKey } from '../libs/infra/src/crypto/envelope';
import { GcpKms, LocalKms } from '../libs/infra/src/crypto/kms';
import { startFakeGcpKmsServer } from '../libs/infra/src/crypto/kms/testing/fake-gcp-kms-server';
import { orgKeyWrappingAad } from '../libs/infra/src/crypto/org-keys';

const num = (name: string, fallback: number): number => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`);
  return value;
};
const ROUNDS = num('BENCH_ROUNDS', 5);
const SLICE_MS = num('BENCH_SLICE_MS', 500);
const UNWRAPS = num('BENCH_UNWRAPS', 1000);

const ORG = '0192f0c2-7d1e-7a51-9c3e-2f8b6c1d4e5a';
const AAD: FieldAad = { orgId: ORG, record: '0192f0c2-7d1e-7a51-9c3e-000000000001', field: 'task.description' };
const RAW_AAD = randomBytes(64);

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const load = (): string => loadavg().map((l) => l.toFixed(2)).join(' ');

/** Runs `op` back to back for `ms`; ops per second. A checksum keeps the results alive. */
let sink = 0;
function slice(op: () => string | Buffer, ms: number): number {
  let count = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 64; i++) sink += op().length;
    count += 64;
    now = performance.now();
  }
  return count / ((now - start) / 1000);
}

function partOne(): void {
  const dek = generateDataKey(1);
  const cache = new DataKeyCache({ ttlSeconds: 3600 });
  cache.set(ORG, dek);
  const cached = () => cache.get(ORG, 1)!;

  const raw = {
    seal(plaintext: string): Buffer {
      const nonce = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', dek.key, nonce, { authTagLength: 16 });
      cipher.setAAD(RAW_AAD);
      return Buffer.concat([nonce, cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    },
    open(sealed: Buffer): string {
      const decipher = createDecipheriv('aes-256-gcm', dek.key, sealed.subarray(0, 12), { authTagLength: 16 });
      decipher.setAAD(RAW_AAD);
      decipher.setAuthTag(sealed.subarray(sealed.length - 16));
      return Buffer.concat([decipher.update(sealed.subarray(12, sealed.length - 16)), decipher.final()]).toString('utf8');
    },
  };

  console.log(`\n## 1. One field, DEK cached (${ROUNDS} rounds, ${SLICE_MS} ms slices, mirrored)   load ${load()}\n`);
  console.log('| plaintext | op | envelope ops/s | raw AES-256-GCM ops/s (limit) | envelope/raw |');
  console.log('|---|---|---:|---:|---:|');
  for (const [label, plaintext] of [
    ['200 B', 'é'.repeat(10) + 'x'.repeat(180)],
    ['4 KiB', 'x'.repeat(4096)],
    ['20,000 chars', 'x'.repeat(20_000)],
  ] as const) {
    const token = encryptField(dek, plaintext, AAD);
    const sealed = raw.seal(plaintext);
    if (decryptField(cached(), token, AAD) !== plaintext || raw.open(sealed) !== plaintext) throw new Error('round trip failed');
    for (const op of ['encrypt', 'decrypt'] as const) {
      const envelope = op === 'encrypt' ? () => encryptField(cached(), plaintext, AAD) : () => decryptField(cached(), token, AAD);
      const limit = op === 'encrypt' ? () => raw.seal(plaintext) : () => raw.open(sealed);
      slice(envelope, SLICE_MS / 2);
      slice(limit, SLICE_MS / 2);
      const a: number[] = [];
      const b: number[] = [];
      const ratios: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        let ea: number;
        let eb: number;
        if (round % 2 === 0) {
          ea = slice(envelope, SLICE_MS / 2);
          eb = slice(limit, SLICE_MS);
          ea = (ea + slice(envelope, SLICE_MS / 2)) / 2;
        } else {
          eb = slice(limit, SLICE_MS / 2);
          ea = slice(envelope, SLICE_MS);
          eb = (eb + slice(limit, SLICE_MS / 2)) / 2;
        }
        a.push(ea);
        b.push(eb);
        ratios.push(ea / eb);
      }
      console.log(`| ${label} | ${op} | ${fmt(median(a))} | ${fmt(median(b))} | ${median(ratios).toFixed(2)}× (${fmt(Math.min(...ratios), 2)}–${fmt(Math.max(...ratios), 2)}) |`);
    }
  }
}

async function partTwo(kmsDir: string): Promise<void> {
  const local = new LocalKms({ directory: kmsDir });
  const localRef = await local.createKey('platform');
  const server = await startFakeGcpKmsServer();
  const gcp = new GcpKms({ clientOptions: server.clientOptions() });
  const gcpRef = 'projects/bastion-bench/locations/europe-west1/keyRings/bench/cryptoKeys/org';
  server.createKey(gcpRef);
  try {
    const dek = generateDataKey(1).key;
    const aad = orgKeyWrappingAad(ORG, 1);
    const adapters = [
      { name: 'LocalKms (keyring file, AES-256-GCM)', kms: local, ref: localRef, wrapped: await local.wrap(localRef, dek, aad), samples: [] as number[] },
      { name: 'GcpKms → gRPC KMS test server, 127.0.0.1', kms: gcp, ref: gcpRef, wrapped: await gcp.wrap(gcpRef, dek, aad), samples: [] as number[] },
    ];
    for (const adapter of adapters) {
      const back = await adapter.kms.unwrap(adapter.ref, adapter.wrapped, aad);
      if (!back.equals(dek)) throw new Error(`${adapter.name}: unwrap gave another key`);
      for (let i = 0; i < 100; i++) await adapter.kms.unwrap(adapter.ref, adapter.wrapped, aad);
    }
    console.log(`\n## 2. Unwrap a DEK (a cache miss): ${fmt(UNWRAPS)} sequential calls each, interleaved   load ${load()}\n`);
    for (let i = 0; i < UNWRAPS; i++) {
      const order = i % 2 === 0 ? adapters : [...adapters].reverse();
      for (const adapter of order) {
        const start = performance.now();
        await adapter.kms.unwrap(adapter.ref, adapter.wrapped, aad);
        adapter.samples.push(performance.now() - start);
      }
    }
    console.log('| adapter | p50 ms | p99 ms | mean ms | unwraps/s (1 in flight) |');
    console.log('|---|---:|---:|---:|---:|');
    for (const adapter of adapters) {
      const sorted = [...adapter.samples].sort((x, y) => x - y);
      const mean = sorted.reduce((s, v) => s + v, 0) / sorted.length;
      console.log(`| ${adapter.name} | ${percentile(sorted, 50).toFixed(3)} | ${percentile(sorted, 99).toFixed(3)} | ${mean.toFixed(3)} | ${fmt(1000 / mean)} |`);
    }
    console.log(`\nload after: ${load()}`);
  } finally {
    await gcp.close();
    await server.stop();
  }
}

async function main(): Promise<void> {
  const kmsDir = mkdtempSync(join(tmpdir(), 'bastion-bench-crypto-'));
  const cleanup = () => rmSync(kmsDir, { recursive: true, force: true });
  process.once('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  console.log('# bench:crypto');
  console.log(`node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${fmt(totalmem() / 2 ** 30, 1)} GiB, load ${load()}`);
  console.log(`started ${new Date().toISOString()}`);
  try {
    partOne();
    await partTwo(kmsDir);
  } finally {
    cleanup();
  }
  if (sink === -1) console.log(sink);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
