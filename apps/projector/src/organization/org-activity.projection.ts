import type { Projection } from '@bastion/infra/projection/projection';

/**
 * Per-organisation activity over every event: a count, the latest type and time. Not idempotent by itself (it
 * counts), which is exactly why it proves the runner's guarantee: the count is right only if each event is
 * applied once, crash or no crash.
 */
export const orgActivityProjection: Projection = {
  kind: 'projection',
  name: 'org_activity',
  handles: '*',
  tables: ['org_activity'],
  async apply(tx, event) {
    const orgId = event.metadata.orgId;
    if (!orgId) return;
    await tx.query(
      `insert into org_activity (org_id, event_count, last_event_type, last_event_at)
       values ($1, 1, $2, $3)
       on conflict (org_id) do update
         set event_count = org_activity.event_count + 1,
             last_event_type = excluded.last_event_type,
             last_event_at = excluded.last_event_at`,
      [orgId, event.type, event.metadata.occurredAt],
    );
  },
};
