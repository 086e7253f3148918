
import type { Actor, CommandContext } from '@bastion/domain';
import { uuidv7 } from '@bastion/infra/ids/uuid-v7';
import type { Request } from 'express';
import type { AuthenticatedPrincipal } from './principal';

export interface BastionRequest extends Request {
  principal?: AuthenticatedPrincipal;
  requestId?: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The request id, assigned once (and echoed as `X-Request-Id`). */
export function requestIdOf(req: BastionRequest): string {
  req.requestId ??= uuidv7();
  return req.requestId;
}

/**
 * Everything an event's metadata says about the request that caused it. The IP is the socket's unless a trusted
 * proxy is configured (express `trust proxy`), so a forged `X-Forwarded-For` cannot falsify the trail.
 */
export function commandContext(
  req: BastionRequest,
  overrides: { actor?: Actor; orgId?: string | null; authMethod?: string | null; sessionId?: string | null } = {},
): CommandContext {
  const principal = req.principal;
  const requestId = requestIdOf(req);
  const correlation = req.header('x-correlation-id');
  return {
    orgId: overrides.orgId ?? principal?.orgId ?? null,
    actor: overrides.actor ?? (principal ? { type: principal.type, id: principal.id } : { type: 'system', id: 'anonymous' }),
    authMethod: overrides.authMethod ?? (principal ? principal.amr.join('+') : null),
    sessionId: overrides.sessionId ?? principal?.sessionId ?? null,
    correlationId: correlation && UUID.test(correlation) ? correlation.toLowerCase() : requestId,
    causationId: null,
    requestId,
    ip: req.ip ?? null,
    userAgent: req.header('user-agent')?.slice(0, 512) ?? null,
    now: new Date(),
    newId: () => uuidv7(),
  };
}

