import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { LocalKms } from '../../libs/infra/src/crypto/kms/local-kms.adapter';
import { bootstrapRoles } from '../../libs/infra/src/database/bootstrap-roles';
import { migrate, migrationsDigest } from '../../libs/infra/src/database/migrate';
import { withDatabase } from '../../libs/infra/src/database/role-urls';
import { adminUrl, assertServicesUp } from './services';

const TEMPLATE_LOCK = 7_361_552_002;

/**
 * Once per run: roles (cluster-wide), then one migrated template database named after the migrations' digest,
 * reused by later runs until a migration changes. Each Jest worker copies it (see database.ts).
 */
export default async function globalSetup(): Promise<void> {
  await assertServicesUp();
  // End-to-end tests spawn the built apps; swc builds the whole repository in about a second.
  const root = join(__dirname, '..', '..');
  execFileSync(join(root, 'node_modules', '.bin', 'swc'), ['apps', 'libs', 'bench', '-d', 'dist', '--quiet'], { cwd: root, stdio: 'inherit' });
  await bootstrapRoles(adminUrl());
  const template = `bastion_tpl_${migrationsDigest()}`;
  const admin = new Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    await admin.query('select pg_advisory_lock($1)', [TEMPLATE_LOCK]);
    const { rowCount } = await admin.query('select 1 from pg_database where datname = $1 and datistemplate', [template]);
    if (!rowCount) {
      await admin.query(`drop database if exists ${template}`);
      await admin.query(`create database ${template}`);
      await migrate(withDatabase(adminUrl(), template));
      await admin.query(`alter database ${template} with is_template true allow_connections false`);
      await admin.query(`comment on database ${template} is '${Date.now()}'`);
    }
    // Templates of older migration sets are dead weight, once no concurrent run (another checkout, another
    // migration set) can still be copying them: those made in the last six hours stay.
    const { rows } = await admin.query<{ datname: string }>(
      `select datname from pg_database d
        where datname like 'bastion\\_tpl\\_%' and datname <> $1
          and coalesce(nullif(shobj_description(d.oid, 'pg_database'), '')::bigint, 0) < $2`,
      [template, Date.now() - 6 * 3_600_000],
    );
    for (const { datname } of rows) {
      await admin.query(`alter database ${datname} is_template false`).catch(() => undefined);
      await admin.query(`drop database if exists ${datname}`).catch(() => undefined);
    }
  } finally {
    await admin.query('select pg_advisory_unlock($1)', [TEMPLATE_LOCK]).catch(() => undefined);
    await admin.end();
  }
  process.env.BASTION_TEST_TEMPLATE = template;
  process.env.BASTION_TEST_RUN_ID = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  // Every API of the run wraps org data keys (made at org creation) under one local KMS of its own, not the
  // checkout's .data/kms. Its platform key is made here, before any worker starts: workers creating it at the same
  // moment would race on the keyring file (read-modify-write) and one org's DEK could end up under a lost key.
  // A suite that disables keys points KMS_LOCAL_DIR at a directory of its own before starting its API.
  if (!process.env.KMS_LOCAL_DIR) {
    process.env.KMS_LOCAL_DIR = mkdtempSync(join(tmpdir(), 'bastion-kms-run-'));
    process.env.BASTION_TEST_KMS_DIR = process.env.KMS_LOCAL_DIR;
    await new LocalKms({ directory: process.env.KMS_LOCAL_DIR }).createKey('platform');
  }
}
