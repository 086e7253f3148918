-- The event store (DESIGN §3): append-only, one row per event, global order by (transaction_id, position).
set local role bastion_owner;

create table events (
  position        bigint generated always as identity primary key,
  -- The committing transaction. Subscribers read only below pg_snapshot_xmin(pg_current_snapshot()), so an
  -- event whose transaction commits late is delayed, never skipped.
  transaction_id  xid8        not null default pg_current_xact_id(),
  id              uuid        not null,
  stream_id       text        not null,
  revision        bigint      not null,
  type            text        not null,
  -- Null only for platform events (a sign-up) that belong to no organisation.
  org_id          uuid,
  data            jsonb       not null,
  metadata        jsonb       not null,
  recorded_at     timestamptz not null default clock_timestamp(),
  constraint events_id_unique unique (id),
  constraint events_stream_revision_unique unique (stream_id, revision),
  constraint events_revision_non_negative check (revision >= 0),
  constraint events_stream_id_shape check (stream_id ~ '^[a-z][a-z-]*-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'),
  constraint events_type_shape check (type ~ '^[A-Z][A-Za-z0-9]{1,99}$'),
  constraint events_metadata_shape check (jsonb_typeof(metadata) = 'object' and jsonb_typeof(metadata -> 'actor') = 'object')
);

create index events_global_order on events (transaction_id, position);
create index events_org_order on events (org_id, transaction_id, position) where org_id is not null;

-- Immutability, twice: no login role is granted UPDATE, DELETE or TRUNCATE, and these triggers refuse them for
-- everyone, owner included, in every replication mode (ENABLE ALWAYS). An owner or superuser can still disable the
-- triggers; the audit chain makes that evident (SECURITY.md), nothing here claims to prevent it.
create function events_refuse_change() returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  raise exception 'events are immutable: % refused', tg_op using errcode = '42501';
end
$$;

create trigger events_no_update_or_delete before update or delete on events
  for each row execute function events_refuse_change();
create trigger events_no_truncate before truncate on events
  for each statement execute function events_refuse_change();
alter table events enable always trigger events_no_update_or_delete;
alter table events enable always trigger events_no_truncate;

revoke all on events from public;
grant select, insert on events to bastion_app, bastion_projector, bastion_worker;
grant usage on sequence events_position_seq to bastion_app, bastion_projector, bastion_worker;

-- Deny by default. The worker and the projector see every event and may append only system events here;
-- the API's role gets its policies with the permission catalogue (it sees nothing until then).
alter table events enable row level security;
alter table events force row level security;
create policy events_system_read on events for select to bastion_projector, bastion_worker using (true);
create policy events_system_append on events for insert to bastion_projector, bastion_worker
  with check (metadata -> 'actor' ->> 'type' = 'system');
