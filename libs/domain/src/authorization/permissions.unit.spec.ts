import { PERMISSIONS, ROLE_PERMISSIONS, ROLES, roleHas } from './permissions';

describe('the permission catalogue', () => {
  it('has exactly 30 distinct permissions', () => {
    expect(new Set(PERMISSIONS).size).toBe(30);
  });

  it('matches the matrix of DESIGN §6, role by role', () => {
    expect(ROLE_PERMISSIONS.viewer).toHaveLength(7);
    expect(ROLE_PERMISSIONS.member).toHaveLength(19);
    expect(ROLE_PERMISSIONS.admin).toHaveLength(29);
    expect(ROLE_PERMISSIONS.provider_admin).toHaveLength(29);
    for (const role of ROLES) expect(new Set(ROLE_PERMISSIONS[role]).size).toBe(ROLE_PERMISSIONS[role].length);
  });

  it('only a Provider Admin crosses organisations; a Provider Admin never manages billing', () => {
    expect(ROLES.filter((r) => roleHas(r, 'llm_provider:cross_org'))).toEqual(['provider_admin']);
    expect(ROLES.filter((r) => roleHas(r, 'billing:manage'))).toEqual(['admin']);
  });

  it('a viewer can only view', () => {
    expect(ROLE_PERMISSIONS.viewer.every((p) => p.endsWith(':view'))).toBe(true);
  });

  it('each role includes every permission of the role below it (except billing for a Provider Admin)', () => {
    for (const p of ROLE_PERMISSIONS.viewer) expect(roleHas('member', p)).toBe(true);
    for (const p of ROLE_PERMISSIONS.member) expect(roleHas('admin', p)).toBe(true);
    for (const p of ROLE_PERMISSIONS.admin.filter((x) => x !== 'billing:manage')) expect(roleHas('provider_admin', p)).toBe(true);
  });
});
