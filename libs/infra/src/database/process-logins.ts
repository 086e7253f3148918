import type { Pool } from 'pg';
import { StartupError } from '../runtime/startup-error';
import { LOGIN_ROLES, type LoginRole, loginOf, rolePasswordEnv } from './role-urls';

/** The long-running processes and the login roles each one uses (DESIGN §4); the sealer runs inside the projector. */
export const PROCESS_LOGINS = {
  api: ['bastion_app'],
  worker: ['bastion_worker'],
  projector: ['bastion_projector', 'bastion_sealer'],
} as const satisfies Record<string, readonly LoginRole[]>;

export type AppProcess = keyof typeof PROCESS_LOGINS;

/** The projector writes every organisation's read models; no other login needs to bypass row-level security. */
const MAY_BYPASS_RLS: ReadonlySet<LoginRole> = new Set(['bastion_projector']);

/** The validated configuration's fields this check reads (the passwords as given in the environment). */
export type LoginSettings = {
  readonly NODE_ENV: string;
  readonly DATABASE_URL: string;
  readonly BASTION_APP_DB_PASSWORD?: string;
  readonly BASTION_PROJECTOR_DB_PASSWORD?: string;
  readonly BASTION_WORKER_DB_PASSWORD?: string;
  readonly BASTION_SEALER_DB_PASSWORD?: string;
};

/**
 * Production's rule for the long-running processes: each holds no database login but its own. Its DATABASE_URL
 * must log in as its own role — the bootstrap login (a superuser in development) stays with the operator's CLI —
 * and its environment carries no other process's role password. Otherwise whoever runs code in a compromised
 * process reads the stronger login from its environment and uses it. Says what is wrong in one sentence, or null;
 * always null outside production, where `npm start` gives every process the bootstrap login.
 */
export function productionLoginProblem(app: AppProcess, settings: LoginSettings): string | null {
  if (settings.NODE_ENV !== 'production') return null;
  const own: readonly LoginRole[] = PROCESS_LOGINS[app];
  const login = loginOf(settings.DATABASE_URL);
  if (!(own as readonly string[]).includes(login)) {
    return (
      `In production this process logs in to PostgreSQL only as ${own.join(' or ')}, but DATABASE_URL logs in as ` +
      `${login ? JSON.stringify(login) : 'the operating system user'}: give it DATABASE_URL=postgres://${own[0]}:<password>@<host>/<database> ` +
      'and keep the bootstrap login for the bastion CLI.'
    );
  }
  const passwords = settings as Partial<Record<string, unknown>>;
  const foreign = LOGIN_ROLES.filter((role) => !own.includes(role) && passwords[rolePasswordEnv(role)]).map(rolePasswordEnv);
  if (foreign.length > 0) {
    return `In production this process holds no other process's database password: remove ${foreign.join(', ')} from its environment.`;
  }
  return null;
}

export function assertProductionLogins(app: AppProcess, settings: LoginSettings): void {
  const problem = productionLoginProblem(app, settings);
  if (problem) throw new StartupError(problem);
}

/** What a login role may do beyond its grants: no superuser, and BYPASSRLS for the projector alone. */
export function loginPrivilegeProblem(role: LoginRole, attributes: { rolsuper: boolean; rolbypassrls: boolean }): string | null {
  if (attributes.rolsuper) return `The login role ${role} is a superuser; run "bastion bootstrap" to restore its attributes.`;
  if (attributes.rolbypassrls && !MAY_BYPASS_RLS.has(role)) {
    return `The login role ${role} may bypass row-level security (BYPASSRLS), which it must not; run "bastion bootstrap" to restore its attributes.`;
  }
  return null;
}

/** Checks, on a pool just opened as `role`, that the role holds no attribute it does not need. */
export async function assertLoginPrivileges(pool: Pool, role: LoginRole): Promise<void> {
  const { rows } = await pool.query<{ rolsuper: boolean; rolbypassrls: boolean }>(
    'select rolsuper, rolbypassrls from pg_roles where rolname = current_user',
  );
  const problem = rows[0] ? loginPrivilegeProblem(role, rows[0]) : `The login role ${role} is missing; run "bastion bootstrap".`;
  if (problem) throw new StartupError(problem);
}
