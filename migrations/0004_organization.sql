-- Organisation read models, written only by the projector (BYPASSRLS). RLS is enabled and forced with no policy
-- for the API's role yet: it reads nothing until the permission catalogue gives it scoped policies.
set local role bastion_owner;

create table organizations (
  org_id         uuid primary key,
  name           text        not null,
  created_by     uuid        not null,
  provider_id    uuid,
  created_at     timestamptz not null,
  provisioned_at timestamptz
);

-- A per-organisation activity index over every event: how many, the latest type and when.
create table org_activity (
  org_id          uuid primary key,
  event_count     bigint      not null,
  last_event_type text        not null,
  last_event_at   timestamptz not null
);

do $$
declare t text;
begin
  foreach t in array array['organizations', 'org_activity'] loop
    execute format('alter table %I enable row level security', t);
    execute format('alter table %I force row level security', t);
    execute format('revoke all on %I from public', t);
    execute format('grant select, insert, update, delete, truncate on %I to bastion_projector', t);
    execute format('grant select on %I to bastion_app', t);
  end loop;
end
$$;
