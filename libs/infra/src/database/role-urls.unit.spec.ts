import { loginOf, roleUrl } from './role-urls';

describe('role URLs', () => {
  it("derives a role's login from the bootstrap login, with the role's password from the environment", () => {
    const url = roleUrl('postgres://postgres:admin-secret@db.internal:5432/bastion', 'bastion_app', { BASTION_APP_DB_PASSWORD: 'app-secret' });
    expect(url).toBe('postgres://bastion_app:app-secret@db.internal:5432/bastion');
  });

  it("never carries the bootstrap login's password over to a role", () => {
    expect(roleUrl('postgres://postgres:admin-secret@db.internal/bastion', 'bastion_app', {})).toBe('postgres://bastion_app@db.internal/bastion');
  });

  it("keeps the URL's own password when the URL already logs in as the role (a process given its own login)", () => {
    expect(roleUrl('postgres://bastion_app:app-secret@db.internal/bastion', 'bastion_app', {})).toBe('postgres://bastion_app:app-secret@db.internal/bastion');
    expect(roleUrl('postgres://bastion_app:app-secret@db.internal/bastion', 'bastion_app', { BASTION_APP_DB_PASSWORD: 'other' })).toBe(
      'postgres://bastion_app:app-secret@db.internal/bastion',
    );
  });

  it("does not lend one role's password to another role", () => {
    expect(roleUrl('postgres://bastion_projector:projector-secret@db/bastion', 'bastion_sealer', { BASTION_SEALER_DB_PASSWORD: 'sealer-secret' })).toBe(
      'postgres://bastion_sealer:sealer-secret@db/bastion',
    );
    expect(roleUrl('postgres://bastion_projector:projector-secret@db/bastion', 'bastion_sealer', {})).toBe('postgres://bastion_sealer@db/bastion');
  });

  it('a password from the environment reaches PostgreSQL as written, whatever characters it holds', () => {
    const { parse } = jest.requireActual<typeof import('pg-connection-string')>('pg-connection-string');
    const password = 'p%41ss@:/?#w rd';
    expect(parse(roleUrl('postgres://postgres@db/bastion', 'bastion_worker', { BASTION_WORKER_DB_PASSWORD: password })).password).toBe(password);
  });

  it('names the login of a URL, or none', () => {
    expect(loginOf('postgres://bastion_app:x@db/bastion')).toBe('bastion_app');
    expect(loginOf('postgres://db/bastion')).toBe('');
  });
});
