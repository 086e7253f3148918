
import type { Actor, CommandContext } from '@bastion/domain';
import { uuidv7 } from '@bastion/infra/ids/uuid-v7';
import { type PersonKey, sealPersonal } from '@bastion/infra/crypto/person-keys';
import type { Request } from 'express';
import type { AuthenticatedPrincipal } from './principal';
import type { Requirement } from './requires.decorator';

export interface BastionRequest extends Request {
  principal?: AuthenticatedPrincipal;
  /**
   * The route's own `@Requires(…)`, recorded (non-writable) by the authentication guard: the one requirement
   * `SessionDatabase.inOrg` enforces. Absent on `@Public()` routes, where `inOrg` refuses to run.
   */
  readonly requirement?: Requirement;
  requestId?: string;
  /**
   * The person keys this request may seal personal data with: loaded before the command by the personal-data
   * global guard (the principal’s) or by the route (`PersonalData.prepare`), else whatever is still in memory.
   */
  personKeys?: { get(subject: string): PersonKey | undefined };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The request id, assigned once (and echoed as `X-Request-Id`). */
export function requestIdOf(req: BastionRequest): string {
  req.requestId ??= uuidv7();
  return req.requestId;
}

/** The request's own IP address and user agent, in plaintext: for mutable tables (sessions), never for an event. */
export function clientOf(req: BastionRequest): { ip: string | null; userAgent: string | null } {
  return { ip: req.ip ?? null, userAgent: req.header('user-agent')?.slice(0, 512) ?? null };
}

/**
 * Everything an event's metadata says about the request that caused it. The IP is the socket's unless a trusted
 * proxy is configured (express `trust proxy`), so a forged `X-Forwarded-For` cannot falsify the trail.
 *
 * The IP address and user agent are personal data: they enter metadata only sealed with the key of the person
 * they describe (`personSubject`, by default the acting human or agent), bound to this request's id, so erasing
 * the person erases them from the log (crypto-shredding, DESIGN §3). Without that key loaded they are left out.
 */
export function commandContext(
  req: BastionRequest,
  overrides: { actor?: Actor; orgId?: string | null; authMethod?: string | null; sessionId?: string | null; personSubject?: string | null } = {},
): CommandContext {
  const principal = req.principal;
  const requestId = requestIdOf(req);
  const correlation = req.header('x-correlation-id');
  const actor: Actor = overrides.actor ?? (principal ? { type: principal.type, id: principal.id } : { type: 'system', id: 'anonymous' });
  const subject = overrides.personSubject !== undefined ? overrides.personSubject : actor.type === 'system' || !actor.id ? null : actor.id.toLowerCase();
  const person = subject === null ? undefined : req.personKeys?.get(subject);
  const client = clientOf(req);
  const seal = (value: string | null, field: 'request.ip' | 'request.userAgent'): string | null =>
    value === null || person === undefined ? null : sealPersonal(person, value, { record: requestId, field });
  return {
    orgId: overrides.orgId ?? principal?.orgId ?? null,
    actor,
    authMethod: overrides.authMethod ?? (principal ? principal.amr.join('+') : null),
    sessionId: overrides.sessionId ?? principal?.sessionId ?? null,
    correlationId: correlation && UUID.test(correlation) ? correlation.toLowerCase() : requestId,
    causationId: null,
    requestId,
    ip: seal(client.ip, 'request.ip'),
    userAgent: seal(client.userAgent, 'request.userAgent'),
    now: new Date(),
    newId: () => uuidv7(),
  };
}

