import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';

/**
 * Loads `count` realistic events of one organisation straight into the events table with set-based SQL, for the
 * 1,000,000-event export test and `npm run bench:audit`. Superuser login to a database of its own only: it writes
 * past the roles' policies. Batches commit separately, so no transaction stays open long enough to hold back the
 * cluster-wide xid gate of other databases' subscribers. The chain is then sealed by the real sealer.
 */
export async function seedAuditEvents(admin: Pool, orgId: string, count: number, batch = 50_000): Promise<void> {
  const actor = randomUUID();
  const session = randomUUID();
  for (let start = 0; start < count; start += batch) {
    await admin.query(
      `insert into events (id, stream_id, revision, type, org_id, data, metadata)
       select gen_random_uuid(), 'task-' || md5($1 || (g / 100)::text)::uuid, g % 100,
              case when g % 100 = 0 then 'TaskCreated' else 'TaskUpdated' end, $2::uuid,
              jsonb_build_object('taskId', md5($1 || (g / 100)::text)::uuid, 'title', 'Task ' || g,
                                 'description', jsonb_build_object('ciphertext', encode(sha512(g::text::bytea), 'base64'), 'keyId', 'k1')),
              jsonb_build_object('orgId', $2::uuid, 'actor', jsonb_build_object('type', 'human', 'id', $3::uuid),
                                 'authMethod', 'pwd+otp', 'sessionId', $4::uuid, 'correlationId', gen_random_uuid(),
                                 'causationId', null, 'requestId', gen_random_uuid(), 'ip', '203.0.113.7',
                                 'userAgent', 'Mozilla/5.0 (X11; Linux x86_64) Bastion-bench',
                                 'occurredAt', to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                                 'schemaVersion', 1)
         from generate_series($5::bigint, $6::bigint) g`,
      [`seed-${orgId}-`, orgId, actor, session, start, Math.min(count, start + batch) - 1],
    );
  }
}

/** Resolves once the chain of `orgId` holds every event of the organisation (the sealer has caught up). */
export async function sealedCount(admin: Pool, orgId: string): Promise<number> {
  const { rows } = await admin.query<{ n: string | null }>(`select count as n from audit.chain_heads where chain = 'org:' || $1`, [orgId]);
  return Number(rows[0]?.n ?? 0);
}
