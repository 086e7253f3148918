import { randomUUID } from 'node:crypto';
import type { Actor, NewEvent } from '@bastion/domain';
import { uuidv7 } from '../../libs/infra/src/ids/uuid-v7';

export const SYSTEM: Actor = { type: 'system', id: 'bastion' };

export function newEvent(
  type: string,
  data: Record<string, unknown> = {},
  options: { orgId?: string | null; actor?: Actor; correlationId?: string } = {},
): NewEvent {
  return {
    id: uuidv7(),
    type,
    data,
    metadata: {
      orgId: options.orgId ?? null,
      actor: options.actor ?? SYSTEM,
      authMethod: null,
      sessionId: null,
      correlationId: options.correlationId ?? randomUUID(),
      causationId: null,
      requestId: null,
      ip: null,
      userAgent: null,
      occurredAt: new Date().toISOString(),
      schemaVersion: 1,
    },
  };
}

export function stream(category = 'task'): string {
  return `${category}-${randomUUID()}`;
}

export async function eventually<T>(probe: () => Promise<T | undefined>, timeoutMs = 15000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
