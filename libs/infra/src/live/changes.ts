import type Redis from 'ioredis';
import type { RecordedEvent } from '../event-store/event-store.port';

/**
 * Live change notifications (DESIGN §10): ids and kinds of change, never row contents, so what a client reads
 * still passes through RLS. Published by the projector after a read model commits; fanned out by the API to the
 * sockets of the organisation's room.
 */
export type ChangeKind = 'canvas' | 'membership' | 'agents' | 'organization' | 'code' | 'session-revoked';

export interface Change {
  readonly kind: ChangeKind;
  /** Null only for session revocations, which concern one session wherever it is connected. */
  readonly orgId: string | null;
  readonly id: string;
  readonly type: string;
}

const KIND_BY_PROJECTION: Record<string, ChangeKind> = {
  tasks: 'canvas',
  agents: 'agents',
  org_members: 'membership',
  org_invitations: 'membership',
  organizations: 'organization',
  repositories: 'code',
  merge_requests: 'code',
};

export function changesChannel(prefix: string): string {
  return `${prefix}:live:changes`;
}

export function changesOf(projection: string, events: readonly RecordedEvent[]): Change[] {
  const kind = KIND_BY_PROJECTION[projection];
  if (!kind) return [];
  const changes: Change[] = [];
  for (const event of events) {
    if (!event.metadata.orgId) continue;
    const id = (event.data.taskId ?? event.data.agentId ?? event.data.userId ?? event.data.invitationId ?? event.data.mrId ?? event.data.repoId ?? event.data.orgId) as
      | string
      | undefined;
    changes.push({ kind, orgId: event.metadata.orgId, id: id ?? event.streamId, type: event.type });
  }
  return changes;
}

/** Session revocations, from the identity events, wherever they occur in the store. */
export function revocationsOf(events: readonly RecordedEvent[]): Change[] {
  return events
    .filter((e) => e.type === 'SessionRevoked' || e.type === 'RefreshTokenReuseDetected')
    .map((e) => ({ kind: 'session-revoked' as const, orgId: null, id: e.data.sessionId as string, type: e.type }));
}

export async function publishChanges(redis: Redis, prefix: string, changes: readonly Change[]): Promise<void> {
  if (changes.length === 0) return;
  const pipeline = redis.pipeline();
  for (const change of changes) pipeline.publish(changesChannel(prefix), JSON.stringify(change));
  await pipeline.exec();
}
