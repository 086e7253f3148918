-- The tamper-evident audit trail (DESIGN §3, §9): one hash chain per organisation plus one for platform events,
-- extended by the sealer (its own login role; nothing else may write here), with Ed25519-signed checkpoints and the
-- published audit keys. The API reads chains and checkpoints under RLS (audit:view); it can change none of it.
create schema audit authorization bastion_owner;
revoke all on schema audit from public;
grant usage on schema audit to bastion_sealer, bastion_app;
grant usage on schema public to bastion_sealer;
do $$
begin
  execute format('grant connect, temporary on database %I to bastion_sealer', current_database());
end
$$;

-- The sealer reads the whole store in its gated global order.
grant select on events to bastion_sealer;
create policy events_sealer_read on events for select to bastion_sealer using (true);
grant usage on schema authz to bastion_sealer;

set local role bastion_owner;

create table audit.chain_heads (
  chain          text primary key,
  org_id         uuid,
  count          bigint      not null,
  head           text        not null,
  last_position  bigint,
  updated_at     timestamptz not null default now()
);

-- One row per sealed event: its place in its chain and h_count; plus the columns the audit query filters on.
create table audit.chain_links (
  chain       text        not null,
  count       bigint      not null,
  position    bigint      not null unique,
  org_id      uuid,
  chain_hash  text        not null,
  event_id    uuid        not null,
  event_type  text        not null,
  stream_id   text        not null,
  actor_type  text        not null,
  actor_id    text        not null,
  occurred_at timestamptz not null,
  primary key (chain, count)
);
create index chain_links_org_position on audit.chain_links (org_id, position);
create index chain_links_org_actor on audit.chain_links (org_id, actor_id, position);
create index chain_links_org_type on audit.chain_links (org_id, event_type, position);

create table audit.checkpoints (
  chain      text        not null,
  count      bigint      not null,
  position   bigint,
  org_id     uuid,
  head       text        not null,
  issued_at  timestamptz not null,
  key_id     text        not null,
  signature  text        not null,
  primary key (chain, count, issued_at)
);

-- Public audit keys (Ed25519 JWKs, public members only); retired keys stay for as long as exports are verified.
create table audit.keys (
  kid        text primary key,
  public_jwk jsonb       not null,
  created_at timestamptz not null,
  retired_at timestamptz
);

create table audit.sealer_position (
  name     text primary key,
  position text
);

-- Alerts raised by the periodic re-verification (a chain no longer matches the stored events).
create table audit.alerts (
  id         bigint generated always as identity primary key,
  chain      text        not null,
  org_id     uuid,
  position   bigint,
  problem    text        not null,
  detail     text        not null,
  raised_at  timestamptz not null default now()
);

do $$
declare t text;
begin
  foreach t in array array['chain_heads', 'chain_links', 'checkpoints', 'alerts'] loop
    execute format('alter table audit.%I enable row level security', t);
    execute format('alter table audit.%I force row level security', t);
    execute format('create policy %I on audit.%I to bastion_sealer using (true) with check (true)', t || '_sealer', t);
  end loop;
end
$$;
grant select, insert, update on audit.chain_heads, audit.chain_links, audit.checkpoints, audit.keys, audit.sealer_position to bastion_sealer;
grant select, insert on audit.alerts to bastion_sealer;
grant usage on sequence audit.alerts_id_seq to bastion_sealer;

grant select on audit.chain_links, audit.checkpoints, audit.keys, audit.chain_heads, audit.alerts to bastion_app;
create policy chain_links_read on audit.chain_links for select to bastion_app
  using (org_id = (select authz.current_org_if('audit:view')));
create policy checkpoints_read on audit.checkpoints for select to bastion_app
  using (org_id = (select authz.current_org_if('audit:view')));
create policy chain_heads_read on audit.chain_heads for select to bastion_app
  using (org_id = (select authz.current_org_if('audit:view')));
create policy alerts_read on audit.alerts for select to bastion_app
  using (org_id = (select authz.current_org_if('audit:view')));

reset role;
set local role bastion_authz;
grant execute on function authz.current_org_if(text), authz.current_org(), authz.current_principal(),
  authz.current_principal_type(), authz.current_session(), authz.has_permission(uuid, text) to bastion_sealer;
insert into authz.event_authority (type, human, agent) values
  ('AuditExported', 'audit:export', null);

-- The sealer's periodic re-verification appends this one system event type when a chain no longer matches.
reset role;
grant insert on events to bastion_sealer;
grant usage on sequence events_position_seq to bastion_sealer;
create policy events_sealer_alert on events for insert to bastion_sealer
  with check (type = 'AuditChainBroken' and metadata -> 'actor' ->> 'type' = 'system');
set local role bastion_authz;
insert into authz.event_authority (type, human, agent) values ('AuditChainBroken', 'system', null);
grant execute on function authz.require_fresh_mfa() to bastion_app;
