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

/**
 * The same server and database as `databaseUrl`, logged in as `role`. The password is the URL's own when the URL
 * already logs in as `role` (production gives each process its own login that way), else the role's from the
 * environment, if any.
 */
export function roleUrl(databaseUrl: string, role: LoginRole, env: NodeJS.ProcessEnv = process.env): string {
  const url = new URL(databaseUrl);
  const own = loginOf(databaseUrl) === role && url.password !== '' ? url.password : undefined;
  url.username = role;
  url.password = own ?? encodeURIComponent(env[PASSWORD_ENV[role]] ?? '');
  return url.toString();
}

/** The user a PostgreSQL URL logs in as; empty when it names none (libpq then uses the OS user's name). */
export function loginOf(databaseUrl: string): string {
  return decodeURIComponent(new URL(databaseUrl).username);
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
