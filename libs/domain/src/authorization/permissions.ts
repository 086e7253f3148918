/**
 * The permission catalogue (DESIGN §6): 30 permissions, 4 roles. One source: a migration loads it into
 * `authz.role_permissions`, and a test fails if the database and this file differ.
 */
export const PERMISSIONS = [
  'canvas:view',
  'task:view',
  'task:create',
  'task:update',
  'agent:view',
  'agent:create',
  'agent:configure',
  'agent:control',
  'agent:credentials',
  'repo:view',
  'repo:create',
  'code:contribute',
  'mr:view',
  'mr:review',
  'mr:approve',
  'escalation:view',
  'escalation:respond',
  'escalation:configure',
  'team:view',
  'team:invite',
  'team:manage',
  'llm_provider:view',
  'llm_provider:configure',
  'llm_provider:cross_org',
  'skill:request',
  'skill:approve',
  'audit:view',
  'audit:export',
  'billing:manage',
  'org:security',
] as const;

export type Permission = (typeof PERMISSIONS)[number];

export const ROLES = ['viewer', 'member', 'admin', 'provider_admin'] as const;
export type Role = (typeof ROLES)[number];

/** Roles an organisation can grant itself; `provider_admin` is granted only by the platform operator. */
export const ORG_ROLES = ['viewer', 'member', 'admin'] as const satisfies readonly Role[];
export type OrgRole = (typeof ORG_ROLES)[number];

const VIEWER: readonly Permission[] = [
  'canvas:view',
  'task:view',
  'agent:view',
  'repo:view',
  'mr:view',
  'escalation:view',
  'team:view',
];

const MEMBER: readonly Permission[] = [
  ...VIEWER,
  'task:create',
  'task:update',
  'agent:create',
  'agent:configure',
  'agent:control',
  'agent:credentials',
  'code:contribute',
  'mr:review',
  'mr:approve',
  'escalation:respond',
  'llm_provider:view',
  'skill:request',
];

const ADMIN: readonly Permission[] = [
  ...MEMBER,
  'repo:create',
  'escalation:configure',
  'team:invite',
  'team:manage',
  'llm_provider:configure',
  'skill:approve',
  'audit:view',
  'audit:export',
  'billing:manage',
  'org:security',
];

/** A Provider Admin administers every organisation of its provider — never billing — plus shared providers. */
const PROVIDER_ADMIN: readonly Permission[] = [...ADMIN.filter((p) => p !== 'billing:manage'), 'llm_provider:cross_org'];

export const ROLE_PERMISSIONS: Readonly<Record<Role, readonly Permission[]>> = {
  viewer: VIEWER,
  member: MEMBER,
  admin: ADMIN,
  provider_admin: PROVIDER_ADMIN,
};

export function roleHas(role: Role, permission: Permission): boolean {
  return ROLE_PERMISSIONS[role].includes(permission);
}
