import { Client, Pool } from 'pg';
import { roleUrl } from '@bastion/infra/database/role-urls';
import type { EventStore } from '@bastion/infra/event-store/event-store.port';
import { PostgresEventStore } from '@bastion/infra/event-store/postgres/postgres-event-store.adapter';
import type { Projection } from '@bastion/infra/projection/projection';
import { ProjectionRunner } from '@bastion/infra/projection/projection-runner';

export interface ReplayReport {
  readonly schema: string;
  readonly tables: { table: string; live: number; replayed: number; onlyLive: number; onlyReplayed: number }[];
  readonly identical: boolean;
  readonly swapped: boolean;
}

/**
 * Compliance replay (DESIGN §9): rebuilds read models from position 0 into a shadow schema, compares them with the
 * live ones row by row, and — only when asked — swaps the shadow contents in, in one transaction (the live tables
 * keep their policies and grants; only their rows are replaced). The shadow schema is dropped afterwards.
 * `adminUrl` is the operator's login (creating a schema needs it); the replay itself runs as the projector.
 */
export async function replay(adminUrl: string, projections: readonly Projection[], options: { swap: boolean }): Promise<ReplayReport> {
  const schema = `replay_${Date.now().toString(36)}`;
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  const tables = [...new Set(projections.flatMap((p) => p.tables))];
  let pool: Pool | undefined;
  try {
    await admin.query(`create schema ${schema} authorization bastion_owner`);
    await admin.query(`grant usage, create on schema ${schema} to bastion_projector`);
    for (const table of [...tables, 'projection_checkpoints']) {
      await admin.query(`create table ${schema}.${table} (like public.${table} including defaults including constraints including indexes)`);
      await admin.query(`grant select, insert, update, delete, truncate on ${schema}.${table} to bastion_projector`);
    }
    // Unqualified table names in the projections resolve to the shadow schema first.
    pool = new Pool({ connectionString: roleUrl(adminUrl, 'bastion_projector'), max: 2, options: `-c search_path=${schema},public` });
    const store: EventStore = new PostgresEventStore(pool);
    for (const projection of projections) await new ProjectionRunner(pool, store, projection, { batchSize: 1000 }).catchUp();

    const report: ReplayReport['tables'] = [];
    for (const table of tables) {
      const { rows } = await admin.query<{ live: number; replayed: number; only_live: number; only_replayed: number }>(`
        select (select count(*) from public.${table})::int as live,
               (select count(*) from ${schema}.${table})::int as replayed,
               (select count(*) from (select * from public.${table} except all select * from ${schema}.${table}) d)::int as only_live,
               (select count(*) from (select * from ${schema}.${table} except all select * from public.${table}) d)::int as only_replayed`);
      const r = rows[0]!;
      report.push({ table, live: r.live, replayed: r.replayed, onlyLive: r.only_live, onlyReplayed: r.only_replayed });
    }
    const identical = report.every((t) => t.onlyLive === 0 && t.onlyReplayed === 0);
    let swapped = false;
    if (options.swap && !identical) {
      await admin.query('begin');
      for (const projection of projections) {
        await admin.query(`select 1 from public.projection_checkpoints where name = $1 for update`, [projection.name]);
      }
      for (const table of tables) {
        await admin.query(`truncate public.${table}`);
        await admin.query(`insert into public.${table} select * from ${schema}.${table}`);
      }
      for (const projection of projections) {
        await admin.query(
          `update public.projection_checkpoints p set position = s.position, events_seen = s.events_seen, updated_at = now()
             from ${schema}.projection_checkpoints s where p.name = s.name and s.name = $1`,
          [projection.name],
        );
      }
      await admin.query('commit');
      swapped = true;
    }
    return { schema, tables: report, identical, swapped };
  } finally {
    await pool?.end();
    await admin.query(`drop schema if exists ${schema} cascade`).catch(() => undefined);
    await admin.end();
  }
}
