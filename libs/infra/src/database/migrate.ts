import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DataSource, type MigrationInterface, type QueryRunner } from 'typeorm';
import { projectRoot } from '../config/project-root';

export interface SqlMigration {
  readonly file: string;
  readonly ordinal: number;
  readonly sql: string;
}

const FILE = /^(\d{4})_([a-z0-9-]+)\.sql$/;

/** Ordered `migrations/NNNN_<context>.sql` files: the SQL that matters is reviewable as SQL. */
export function loadSqlMigrations(dir = join(projectRoot(), 'migrations')): SqlMigration[] {
  const migrations = readdirSync(dir)
    .filter((file) => FILE.test(file))
    .sort()
    .map((file) => ({ file, ordinal: Number(FILE.exec(file)![1]), sql: readFileSync(join(dir, file), 'utf8') }));
  migrations.forEach((m, i) => {
    if (m.ordinal !== i + 1) throw new Error(`Migrations must be numbered 0001, 0002, … without gaps; ${m.file} is out of line.`);
  });
  return migrations;
}

/** A digest of every migration: test templates are rebuilt exactly when it changes. */
export function migrationsDigest(migrations = loadSqlMigrations()): string {
  const hash = createHash('sha256');
  for (const m of migrations) hash.update(m.file).update('\0').update(m.sql).update('\0');
  return hash.digest('hex').slice(0, 16);
}

/**
 * TypeORM runs the migrations (each in its own transaction, recorded in its `migrations` table, so re-running is a
 * no-op). TypeORM wants a class per migration whose name ends in a 13-digit timestamp: the ordinal stands in for it.
 */
function toMigrationClass(m: SqlMigration): new () => MigrationInterface {
  const pascal = m.file
    .replace(FILE, '$2')
    .split('-')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('');
  const name = `${pascal}${String(m.ordinal).padStart(13, '0')}`;
  const migrationClass = class implements MigrationInterface {
    name = name;
    async up(runner: QueryRunner): Promise<void> {
      await runner.query(m.sql);
      // Files `set local role` to the owners; TypeORM records the migration in the same transaction, as the login.
      await runner.query('reset role');
    }
    async down(): Promise<void> {
      throw new Error('Bastion migrations are forward-only; restore from a backup instead.');
    }
  };
  Object.defineProperty(migrationClass, 'name', { value: name });
  return migrationClass;
}

export interface MigrateResult {
  readonly applied: string[];
}

export async function migrate(adminUrl: string): Promise<MigrateResult> {
  const dataSource = new DataSource({
    type: 'postgres',
    url: adminUrl,
    migrations: loadSqlMigrations().map(toMigrationClass),
    migrationsTransactionMode: 'each',
    migrationsTableName: 'schema_migrations',
    logging: false,
  });
  await dataSource.initialize();
  try {
    const applied = await dataSource.runMigrations({ transaction: 'each' });
    return { applied: applied.map((m) => m.name) };
  } finally {
    await dataSource.destroy();
  }
}
