import { Pool, type PoolConfig } from 'pg';
import { unreachable } from '../runtime/startup-error';
import { type LoginRole, redactUrl, roleUrl } from './role-urls';

/**
 * A pool logged in as one role, checked with a first round trip so that a wrong URL or a missing role fails at
 * start-up with one sentence. Never a superuser login that `SET ROLE`s (DESIGN §4).
 */
export async function openRolePool(adminUrl: string, role: LoginRole, options: PoolConfig = {}): Promise<Pool> {
  const url = roleUrl(adminUrl, role);
  const pool = new Pool({ connectionString: url, max: 10, connectionTimeoutMillis: 5000, ...options });
  pool.on('error', () => undefined); // an idle client's error surfaces on its next use; never crash the process
  try {
    const { rows } = await pool.query<{ rolsuper: boolean; rolbypassrls: boolean }>(
      'select rolsuper, rolbypassrls from pg_roles where rolname = current_user',
    );
    if (rows[0]?.rolsuper) throw new Error(`${role} must not be a superuser`);
  } catch (error) {
    await pool.end().catch(() => undefined);
    const code = (error as { code?: string }).code;
    if (code === '28000' || code === '28P01') {
      throw unreachable(`PostgreSQL (as ${role}; run "bastion bootstrap" first, or set its password)`, url, error);
    }
    if (code === '3D000') {
      throw unreachable(`The database of ${redactUrl(adminUrl)} (run "bastion migrate" first)`, url, error);
    }
    throw unreachable(`PostgreSQL (as ${role})`, url, error);
  }
  return pool;
}
