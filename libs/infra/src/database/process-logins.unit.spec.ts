import { StartupError } from '../runtime/startup-error';
import { assertProductionLogins, loginPrivilegeProblem, productionLoginProblem } from './process-logins';

const production = (DATABASE_URL: string, passwords: Record<string, string> = {}) => ({ NODE_ENV: 'production', DATABASE_URL, ...passwords });

describe('in production a process holds no database login but its own', () => {
  it('the API refuses the bootstrap superuser login, in one sentence naming what to give it instead', () => {
    expect(() => assertProductionLogins('api', production('postgres://postgres:admin-secret@db/bastion'))).toThrow(StartupError);
    expect(productionLoginProblem('api', production('postgres://postgres:admin-secret@db/bastion'))).toBe(
      'In production this process logs in to PostgreSQL only as bastion_app, but DATABASE_URL logs in as "postgres": ' +
        'give it DATABASE_URL=postgres://bastion_app:<password>@<host>/<database> and keep the bootstrap login for the bastion CLI.',
    );
  });

  it("a URL naming no user (libpq's OS-user default) is refused too", () => {
    expect(productionLoginProblem('worker', production('postgres://db/bastion'))).toMatch(/logs in as the operating system user/);
  });

  it("each process refuses another process's login", () => {
    expect(productionLoginProblem('api', production('postgres://bastion_projector:x@db/bastion'))).toMatch(/only as bastion_app, but/);
    expect(productionLoginProblem('worker', production('postgres://bastion_app:x@db/bastion'))).toMatch(/only as bastion_worker, but/);
    expect(productionLoginProblem('projector', production('postgres://bastion_worker:x@db/bastion'))).toMatch(/only as bastion_projector or bastion_sealer, but/);
  });

  it('each process accepts its own login', () => {
    expect(productionLoginProblem('api', production('postgres://bastion_app:x@db/bastion', { BASTION_APP_DB_PASSWORD: 'x' }))).toBeNull();
    expect(productionLoginProblem('worker', production('postgres://bastion_worker:x@db/bastion'))).toBeNull();
    expect(productionLoginProblem('projector', production('postgres://bastion_projector:x@db/bastion', { BASTION_SEALER_DB_PASSWORD: 's' }))).toBeNull();
  });

  it("a process whose environment carries another process's password is refused, naming the variable (not its value)", () => {
    const problem = productionLoginProblem('api', production('postgres://bastion_app:x@db/bastion', { BASTION_SEALER_DB_PASSWORD: 'sealer-secret', BASTION_WORKER_DB_PASSWORD: 'w' }));
    expect(problem).toBe("In production this process holds no other process's database password: remove BASTION_WORKER_DB_PASSWORD, BASTION_SEALER_DB_PASSWORD from its environment.");
    expect(productionLoginProblem('worker', production('postgres://bastion_worker:x@db/bastion', { BASTION_PROJECTOR_DB_PASSWORD: 'p' }))).toMatch(/remove BASTION_PROJECTOR_DB_PASSWORD/);
  });

  it('development and tests keep the single bootstrap login `npm start` gives every process', () => {
    expect(productionLoginProblem('api', { NODE_ENV: 'development', DATABASE_URL: 'postgres://postgres@127.0.0.1/bastion', BASTION_SEALER_DB_PASSWORD: 's' })).toBeNull();
    expect(productionLoginProblem('projector', { NODE_ENV: 'test', DATABASE_URL: 'postgres://postgres@127.0.0.1/bastion' })).toBeNull();
  });
});

describe('a login role holds no attribute it does not need', () => {
  it('no login role is a superuser', () => {
    expect(loginPrivilegeProblem('bastion_app', { rolsuper: true, rolbypassrls: true })).toMatch(/bastion_app is a superuser/);
    expect(loginPrivilegeProblem('bastion_projector', { rolsuper: true, rolbypassrls: true })).toMatch(/is a superuser/);
  });

  it.each(['bastion_app', 'bastion_worker', 'bastion_sealer'] as const)('%s may not bypass row-level security', (role) => {
    expect(loginPrivilegeProblem(role, { rolsuper: false, rolbypassrls: true })).toMatch(new RegExp(`${role} may bypass row-level security`));
  });

  it('the projector, which writes every organisation\'s read models, may', () => {
    expect(loginPrivilegeProblem('bastion_projector', { rolsuper: false, rolbypassrls: true })).toBeNull();
    expect(loginPrivilegeProblem('bastion_app', { rolsuper: false, rolbypassrls: false })).toBeNull();
  });
});
