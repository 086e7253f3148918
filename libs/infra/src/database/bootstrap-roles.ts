import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { projectRoot } from '../config/project-root';
import { LOGIN_ROLES, rolePasswordEnv } from './role-urls';

/** Any constant: serialises concurrent bootstraps on one cluster (two test runs, two starts). */
const BOOTSTRAP_LOCK = 7_361_552_001;

/**
 * Creates or aligns the cluster-wide roles (idempotent), sets login passwords given in the environment, and lets
 * the migration login act as the owners. Needs a login that may create roles with BYPASSRLS (a superuser).
 */
export async function bootstrapRoles(adminUrl: string, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const sql = readFileSync(join(projectRoot(), 'migrations', 'bootstrap', 'roles.sql'), 'utf8');
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query('select pg_advisory_lock($1)', [BOOTSTRAP_LOCK]);
    await client.query(sql);
    for (const role of LOGIN_ROLES) {
      const password = env[rolePasswordEnv(role)];
      if (password) {
        // ALTER ROLE takes no bind parameters; format('%L') quotes the literal inside the server.
        const { rows } = await client.query<{ statement: string }>(
          `select format('alter role %I password %L', $1::text, $2::text) as statement`,
          [role, password],
        );
        await client.query(rows[0]!.statement);
      }
    }
    const { rows } = await client.query<{ rolsuper: boolean }>('select rolsuper from pg_roles where rolname = current_user');
    if (!rows[0]?.rolsuper) {
      await client.query('grant bastion_owner, bastion_authz to current_user');
    }
  } finally {
    await client.query('select pg_advisory_unlock($1)', [BOOTSTRAP_LOCK]).catch(() => undefined);
    await client.end();
  }
}
