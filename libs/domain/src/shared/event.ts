/**
 * The event envelope (DESIGN §3). Events are facts in the past tense, never edited; an upcaster reads old
 * schema versions. The domain never creates ids or reads the clock: both arrive in {@link CommandContext}.
 */
export type ActorType = 'human' | 'agent' | 'system';

export interface Actor {
  readonly type: ActorType;
  readonly id: string;
}

export interface EventMetadata {
  /** Null only for platform events that belong to no organisation yet (a sign-up). */
  readonly orgId: string | null;
  readonly actor: Actor;
  readonly authMethod: string | null;
  readonly sessionId: string | null;
  readonly correlationId: string;
  readonly causationId: string | null;
  readonly requestId: string | null;
  /**
   * The request's IP address and user agent are personal data: the API stores them only sealed for the person
   * they describe (`pd1:<subject>:<token>`, bound to `requestId`), or not at all (crypto-shredding, DESIGN §3).
   */
  readonly ip: string | null;
  readonly userAgent: string | null;
  /** ISO-8601 UTC with millisecond precision. */
  readonly occurredAt: string;
  readonly schemaVersion: number;
}

/** A domain event before it is stored: the decider's output. */
export interface DomainEvent<TType extends string = string, TData extends object = object> {
  readonly type: TType;
  readonly data: TData;
}

/** An event ready to append: the domain event plus the id and metadata the command context supplies. */
export interface NewEvent<E extends DomainEvent = DomainEvent> {
  readonly id: string;
  readonly type: E['type'];
  readonly data: E['data'];
  readonly metadata: EventMetadata;
}

/** What the system may put in metadata about who acted and why: everything except per-event facts. */
export interface CommandContext {
  readonly orgId: string | null;
  readonly actor: Actor;
  readonly authMethod?: string | null;
  readonly sessionId?: string | null;
  readonly correlationId: string;
  readonly causationId?: string | null;
  readonly requestId?: string | null;
  readonly ip?: string | null;
  readonly userAgent?: string | null;
  readonly now: Date;
  readonly newId: () => string;
}

export const SYSTEM_ACTOR: Actor = Object.freeze({ type: 'system', id: 'bastion' });

/** Turns decided events into appendable ones, stamping every one with the same context. */
export function toNewEvents<E extends DomainEvent>(
  events: readonly E[],
  ctx: CommandContext,
  schemaVersion = 1,
): NewEvent<E>[] {
  const occurredAt = ctx.now.toISOString();
  return events.map((event) => ({
    id: ctx.newId(),
    type: event.type,
    data: event.data,
    metadata: {
      orgId: ctx.orgId,
      actor: ctx.actor,
      authMethod: ctx.authMethod ?? null,
      sessionId: ctx.sessionId ?? null,
      correlationId: ctx.correlationId,
      causationId: ctx.causationId ?? null,
      requestId: ctx.requestId ?? null,
      ip: ctx.ip ?? null,
      userAgent: ctx.userAgent ?? null,
      occurredAt,
      schemaVersion,
    },
  }));
}
