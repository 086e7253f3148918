/**
 * Every route enforces exactly the permission it declares. `@Requires(…)` is not documentation: the authentication
 * guard records the route's declaration on the request (non-writable) and `SessionDatabase.inOrg(req, …)` checks
 * that one and no other — a handler has no way to name a requirement of its own. This suite proves the mechanism
 * (with a stand-in transaction, no database) and walks every controller of the API for the ways around it: a
 * requirement literal in a handler, an org transaction opened with `as(…)` by a route that declares an org
 * permission, `inOrg` on a public route, and any stricter step (`inOrgAlsoRequiring`) not listed below.
 */
import type { ExecutionContext } from '@nestjs/common';
import { MODULE_METADATA, METHOD_METADATA } from '@nestjs/common/constants';
import { Reflector } from '@nestjs/core';
import type { Pool, PoolClient } from 'pg';
import { AppModule } from '../../apps/api/src/app.module';
import type { AccessTokens } from '../../apps/api/src/auth/access-tokens';
import { AuthenticationGuard } from '../../apps/api/src/auth/authentication.guard';
import type { AuthenticatedPrincipal } from '../../apps/api/src/auth/principal';
import { IS_PUBLIC } from '../../apps/api/src/auth/public.decorator';
import type { BastionRequest } from '../../apps/api/src/auth/request-context';
import { REQUIRES, type Requirement, Requires } from '../../apps/api/src/auth/requires.decorator';
import { SessionDatabase } from '../../apps/api/src/auth/session-database';
import type { ApiInfrastructure } from '../../apps/api/src/infrastructure.module';
import { ProblemError } from '../../apps/api/src/http/problem';
import type { JsonLogger } from '@bastion/infra/runtime/logger';
import type { ServerSecrets } from '@bastion/infra/crypto/server-secrets';

const ORG = '0190f5d0-0000-7000-8000-000000000001';
const human: AuthenticatedPrincipal = { type: 'human', id: 'u1', sessionId: 's1', amr: ['pwd'], orgId: null };
const agent: AuthenticatedPrincipal = { type: 'agent', id: 'a1', sessionId: 's2', amr: ['agent_key'], orgId: ORG };

/** Stricter steps inside a route (never instead of its declaration), each reviewed: route → the extra permission. */
const ALSO_REQUIRING: Record<string, string> = {
  // Leaving is open to any member (the route's `platform`); removing someone else needs team:manage as well.
  'TeamController.remove': 'team:manage',
  // Creating the new org's data key right after creating the org (the creator is its Admin).
  'CreateOrganizationController.create': 'org:security',
};

// ---------------------------------------------------------------------------------------------------------------
// The mechanism

class Declared {
  @Requires('task:view', 'task:work_assigned')
  list() {}

  @Requires('task:update')
  assign() {}

  undeclared() {}
}

function contextFor(req: Partial<BastionRequest>, handler: () => void): ExecutionContext {
  return {
    getHandler: () => handler,
    getClass: () => Declared,
    switchToHttp: () => ({ getRequest: () => req }),
  } as unknown as ExecutionContext;
}

async function authenticated(handler: () => void): Promise<BastionRequest> {
  const tokens = { verify: async () => human } as unknown as AccessTokens;
  const logger = { event: () => undefined } as unknown as JsonLogger;
  const guard = new AuthenticationGuard(new Reflector(), tokens, logger);
  const req = { header: (name: string) => (name === 'authorization' ? 'Bearer aaa.bbb.ccc' : undefined), path: '/x' } as unknown as BastionRequest;
  await guard.canActivate(contextFor(req, handler));
  return req;
}

/**
 * A SessionDatabase whose transaction is a stand-in for `authz.begin`: it records the permissions the request was
 * opened with, and refuses (BA005, as authz.begin does: with-principal.int.spec.ts) any of them not in `granted`.
 */
function database(granted: readonly string[]) {
  const checked: string[] = [];
  const tx = {} as PoolClient;
  const db = new SessionDatabase({} as Pool, {} as ServerSecrets);
  jest.spyOn(db, 'as').mockImplementation(async (_principal, orgId, work, required = []) => {
    expect(orgId).toBe(ORG);
    checked.push(...required);
    if (required.some((permission) => !granted.includes(permission))) throw Object.assign(new Error('refused'), { code: 'BA005' });
    return work(tx);
  });
  return { db, checked };
}

const request = (principal: AuthenticatedPrincipal, requirement?: Requirement) => ({ principal, requirement }) as BastionRequest;

describe('every route enforces exactly the permission it declares: the mechanism', () => {
  it("the authentication guard records the route's declaration on the request, and a handler cannot overwrite it", async () => {
    const req = await authenticated(Declared.prototype.list);
    expect(req.requirement).toEqual({ permission: 'task:view', agentCapability: 'task:work_assigned' });
    expect(() => {
      (req as { requirement?: Requirement }).requirement = { permission: 'platform' };
    }).toThrow(TypeError);
    expect(() => {
      (req.requirement as { permission: string }).permission = 'platform';
    }).toThrow(TypeError);
    expect(req.requirement!.permission).toBe('task:view');
  });

  it('inOrg checks the declared permission — the only one the handler can get — and refuses the caller without it', async () => {
    const allowed = database(['task:view']);
    await expect(allowed.db.inOrg(request(human, { permission: 'task:view' }), ORG, async () => 'ran')).resolves.toBe('ran');
    expect(allowed.checked).toEqual(['task:view']);

    const refused = database(['task:view']);
    const work = jest.fn();
    const error = await refused.db.inOrg(request(human, { permission: 'task:update' }), ORG, work).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProblemError);
    expect((error as ProblemError).problem.status).toBe(403);
    expect(refused.checked).toEqual(['task:update']);
    expect(work).not.toHaveBeenCalled();
  });

  it('inOrg fails closed (an error, not a pass) on a request that carries no declaration', async () => {
    const { db, checked } = database(['task:view']);
    const work = jest.fn();
    const error = await db.inOrg(request(human), ORG, work).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(ProblemError);
    expect(work).not.toHaveBeenCalled();
    expect(checked).toEqual([]);
  });

  it('an agent passes only where the declaration names an agent capability, and never a stricter step', async () => {
    const { db } = database([]);
    await expect(db.inOrg(request(agent, { permission: 'task:view', agentCapability: 'task:work_assigned' }), ORG, async () => 'ran')).resolves.toBe('ran');
    await expect(db.inOrg(request(agent, { permission: 'task:update' }), ORG, async () => 'ran')).rejects.toBeInstanceOf(ProblemError);
    await expect(
      db.inOrgAlsoRequiring(request(agent, { permission: 'platform', agentCapability: 'task:work_assigned' }), ORG, 'team:manage', async () => 'ran'),
    ).rejects.toBeInstanceOf(ProblemError);
  });

  it('inOrgAlsoRequiring checks the declaration and the extra permission, never the extra one instead', async () => {
    const both = database(['task:create', 'org:security']);
    await expect(both.db.inOrgAlsoRequiring(request(human, { permission: 'task:create' }), ORG, 'org:security', async () => 'ran')).resolves.toBe('ran');
    expect(both.checked).toEqual(['task:create', 'org:security']);

    const extraOnly = database(['org:security']);
    await expect(extraOnly.db.inOrgAlsoRequiring(request(human, { permission: 'task:create' }), ORG, 'org:security', async () => 'ran')).rejects.toBeInstanceOf(
      ProblemError,
    );
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Every route of the API

type Ctor = { name: string; prototype: object };
interface Route {
  readonly name: string;
  readonly declared: Requirement | undefined;
  readonly isPublic: boolean;
  readonly source: string;
}

function controllersOf(module: unknown, seen = new Set<unknown>()): Ctor[] {
  if (!module || seen.has(module)) return [];
  seen.add(module);
  const dynamic = typeof module === 'object' && 'module' in module ? (module as { module: unknown; imports?: unknown[]; controllers?: Ctor[] }) : undefined;
  const type = dynamic ? dynamic.module : module;
  const controllers: Ctor[] = [...(dynamic?.controllers ?? []), ...((Reflect.getMetadata(MODULE_METADATA.CONTROLLERS, type as object) as Ctor[]) ?? [])];
  const imports: unknown[] = [...(dynamic?.imports ?? []), ...((Reflect.getMetadata(MODULE_METADATA.IMPORTS, type as object) as unknown[]) ?? [])];
  return [...controllers, ...imports.flatMap((m) => controllersOf(m, seen))];
}

function routes(): Route[] {
  const controllers = [...new Set(controllersOf(AppModule.with({} as ApiInfrastructure)))];
  return controllers.flatMap((controller) =>
    Object.getOwnPropertyNames(controller.prototype).flatMap((name) => {
      const handler = (controller.prototype as Record<string, unknown>)[name];
      if (typeof handler !== 'function' || Reflect.getMetadata(METHOD_METADATA, handler) === undefined) return [];
      const meta = <T>(key: string) => (Reflect.getMetadata(key, handler) ?? Reflect.getMetadata(key, controller)) as T | undefined;
      return [{ name: `${controller.name}.${name}`, declared: meta<Requirement>(REQUIRES), isPublic: meta<boolean>(IS_PUBLIC) === true, source: String(handler) }];
    }),
  );
}

describe('every route enforces exactly the permission it declares: the routes', () => {
  const all = routes();

  it('finds the routes of every module (the walk is not vacuous)', () => {
    expect(all.length).toBeGreaterThan(40);
    expect(all.map((r) => r.name)).toEqual(expect.arrayContaining(['TasksController.list', 'TeamController.remove', 'KmsController.status']));
  });

  it('no handler names a requirement of its own (it has the declaration, through the request)', () => {
    const offenders = all.filter((r) => /\bpermission\s*:/.test(r.source) || /\bagentCapability\s*:/.test(r.source)).map((r) => r.name);
    expect(offenders).toEqual([]);
  });

  it('a route that declares an org permission opens no org transaction around inOrg (no `as(principal, orgId, …)`)', () => {
    const offenders = all
      .filter((r) => r.declared && r.declared.permission !== 'platform')
      .filter((r) => /\.as\(\s*[^,()]+(?:\([^()]*\))?!?\s*,(?!\s*null\b)/.test(r.source))
      .map((r) => r.name);
    expect(offenders).toEqual([]);
  });

  it('every inOrg call hands over the request itself, so it is the route’s declaration that is checked', () => {
    const offenders = all.filter((r) => /\.inOrg(?:AlsoRequiring)?\(\s*(?!req\b)/.test(r.source)).map((r) => r.name);
    expect(offenders).toEqual([]);
  });

  it('a public route touches no org through inOrg (it has no declaration to enforce)', () => {
    const offenders = all.filter((r) => r.isPublic && /\.inOrg/.test(r.source)).map((r) => r.name);
    expect(offenders).toEqual([]);
  });

  it('a stricter step than the declaration (inOrgAlsoRequiring) appears only where it is listed, with its permission', () => {
    const found = Object.fromEntries(
      all.flatMap((r) => [...r.source.matchAll(/\.inOrgAlsoRequiring\(\s*req\s*,\s*[^,]+,\s*['"]([^'"]+)['"]/g)].map((m) => [r.name, m[1]!] as const)),
    );
    expect(found).toEqual(ALSO_REQUIRING);
  });
});
