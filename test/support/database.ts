import { randomBytes } from 'node:crypto';
import { Client, Pool } from 'pg';
import { type LoginRole, roleUrl, withDatabase } from '../../libs/infra/src/database/role-urls';
import { adminUrl } from './services';

export interface TestDatabase {
  readonly name: string;
  /** Superuser login to this database: for arranging attacks and inspecting, never for code under test. */
  readonly adminUrl: string;
  urlFor(role: LoginRole): string;
}

function runId(): string {
  const id = process.env.BASTION_TEST_RUN_ID;
  if (!id) throw new Error('BASTION_TEST_RUN_ID is unset: run the suite through Jest (globalSetup makes the template).');
  return id;
}

function describeDatabase(name: string): TestDatabase {
  const url = withDatabase(adminUrl(), name);
  return { name, adminUrl: url, urlFor: (role) => roleUrl(url, role) };
}

async function createFromTemplate(name: string, ifMissing: boolean): Promise<void> {
  const admin = new Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    for (let attempt = 0; ; attempt += 1) {
      try {
        await admin.query(`create database ${name} template ${process.env.BASTION_TEST_TEMPLATE}`);
        return;
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (code === '42P04' && ifMissing) return; // duplicate_database: this worker made it already
        // 55006: the template is briefly in use by another worker's copy.
        if (code === '55006' && attempt < 20) {
          await new Promise((r) => setTimeout(r, 100 + attempt * 50));
          continue;
        }
        throw error;
      }
    }
  } finally {
    await admin.end();
  }
}

/** This Jest worker's database, copied from the migrated template on first use and shared by its test files. */
export async function workerDatabase(): Promise<TestDatabase> {
  const name = `bastion_test_${runId()}_w${process.env.JEST_WORKER_ID ?? '0'}`;
  await createFromTemplate(name, true);
  return describeDatabase(name);
}

/** A database of its own, for tests that need the whole store to themselves (projections from position 0). */
export async function isolatedDatabase(): Promise<TestDatabase> {
  const name = `bastion_test_${runId()}_w${process.env.JEST_WORKER_ID ?? '0'}_${randomBytes(4).toString('hex')}`;
  await createFromTemplate(name, false);
  return describeDatabase(name);
}

export async function dropRunDatabases(id: string): Promise<void> {
  const admin = new Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ datname: string }>(
      "select datname from pg_database where datname like 'bastion\\_test\\_' || $1 || '\\_%'",
      [id],
    );
    for (const { datname } of rows) await admin.query(`drop database if exists ${datname} with (force)`);
  } finally {
    await admin.end();
  }
}

/** Pools opened by a test file, closed by `closePools()` in its afterAll. */
const pools: Pool[] = [];
export function poolFor(url: string, max = 10): Pool {
  const pool = new Pool({ connectionString: url, max });
  pools.push(pool);
  return pool;
}
export async function closePools(): Promise<void> {
  await Promise.all(pools.splice(0).map((p) => p.end()));
}
