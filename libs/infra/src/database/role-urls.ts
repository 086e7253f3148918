/**
 * Each process logs in as its own role; DATABASE_URL is only the bootstrap and migration login (DESIGN §4).
 * A superuser login that `SET ROLE`s would let injected SQL `RESET ROLE`, so apps never use it.
 */
export type LoginRole = 'bastion_app' | 'bastion_projector' | 'bastion_worker' | 'bastion_sealer';

export const LOGIN_ROLES: readonly LoginRole[] = ['bastion_app', 'bastion_projector', 'bastion_worker', 'bastion_sealer'];

const PASSWORD_ENV: Record<LoginRole, string> = {
  bastion_app: 'BASTION_APP_DB_PASSWORD',
  bastion_projector: 'BASTION_PROJECTOR_DB_PASSWORD',
  bastion_worker: 'BASTION_WORKER_DB_PASSWORD',
  bastion_sealer: 'BASTION_SEALER_DB_PASSWORD',
};

export function rolePasswordEnv(role: LoginRole): string {
  return PASSWORD_ENV[role];
}

/** The same server and database as `adminUrl`, logged in as `role` (with its password from the environment, if any). */
export function roleUrl(adminUrl: string, role: LoginRole, env: NodeJS.ProcessEnv = process.env): string {
  const url = new URL(adminUrl);
  url.username = role;
  url.password = env[PASSWORD_ENV[role]] ?? '';
  return url.toString();
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

export function databaseName(url: string): string {
  return decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
}

/** For messages: the URL without its password. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<unparseable URL>';
  }
}
