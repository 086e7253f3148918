import { SetMetadata } from '@nestjs/common';
import type { AgentCapability, Permission } from '@bastion/domain';

export const REQUIRES = 'bastion:requires';

/**
 * What a route's command or query needs (DESIGN §6): an org permission, an agent capability as well where agents
 * may call it, or `platform` (an authenticated human acting on their own account). Every route declares one (or
 * is `@Public()`), or the API refuses to start — see route-policy.check.ts.
 */
export interface Requirement {
  readonly permission: Permission | 'platform';
  readonly agentCapability?: AgentCapability;
}

/**
 * The declaration is also what is enforced: the authentication guard records it on the request
 * (`req.requirement`) and `SessionDatabase.inOrg` checks it; a handler cannot name a requirement of its own.
 */
export const Requires = (permission: Requirement['permission'], agentCapability?: AgentCapability) =>
  SetMetadata(REQUIRES, Object.freeze({ permission, agentCapability } satisfies Requirement));
