-- The authz schema (DESIGN §4): write-side security state — the permission catalogue, memberships, sessions —
-- owned by the NOLOGIN role bastion_authz. bastion_app holds no privilege on any of its tables; it reaches them
-- only through the definer functions below and in later migrations, each narrow and with a pinned search_path.
create schema if not exists extensions;
create extension if not exists pgcrypto with schema extensions;
grant usage on schema extensions to bastion_authz;

create schema authz authorization bastion_authz;
revoke all on schema authz from public;
grant usage on schema authz to bastion_app, bastion_worker, bastion_projector;

-- bastion_authz appends the events of the actions its functions perform (sign-up, sessions, memberships…).
grant usage on schema public to bastion_authz;
grant select, insert on events to bastion_authz;
grant usage on sequence events_position_seq to bastion_authz;
create policy events_authz_read on events for select to bastion_authz using (true);
create policy events_authz_append on events for insert to bastion_authz with check (true);

set local role bastion_authz;

-- The catalogue, loaded from libs/domain/src/authorization/permissions.ts (a test compares the two).
create table authz.permissions (name text primary key);
create table authz.role_permissions (
  role       text not null check (role in ('viewer', 'member', 'admin', 'provider_admin')),
  permission text not null references authz.permissions (name),
  primary key (role, permission)
);
insert into authz.permissions (name) values
  ('canvas:view'),
  ('task:view'),
  ('task:create'),
  ('task:update'),
  ('agent:view'),
  ('agent:create'),
  ('agent:configure'),
  ('agent:control'),
  ('agent:credentials'),
  ('repo:view'),
  ('repo:create'),
  ('code:contribute'),
  ('mr:view'),
  ('mr:review'),
  ('mr:approve'),
  ('escalation:view'),
  ('escalation:respond'),
  ('escalation:configure'),
  ('team:view'),
  ('team:invite'),
  ('team:manage'),
  ('llm_provider:view'),
  ('llm_provider:configure'),
  ('llm_provider:cross_org'),
  ('skill:request'),
  ('skill:approve'),
  ('audit:view'),
  ('audit:export'),
  ('billing:manage'),
  ('org:security');
insert into authz.role_permissions (role, permission) values
  ('viewer', 'canvas:view'),
  ('viewer', 'task:view'),
  ('viewer', 'agent:view'),
  ('viewer', 'repo:view'),
  ('viewer', 'mr:view'),
  ('viewer', 'escalation:view'),
  ('viewer', 'team:view'),
  ('member', 'canvas:view'),
  ('member', 'task:view'),
  ('member', 'agent:view'),
  ('member', 'repo:view'),
  ('member', 'mr:view'),
  ('member', 'escalation:view'),
  ('member', 'team:view'),
  ('member', 'task:create'),
  ('member', 'task:update'),
  ('member', 'agent:create'),
  ('member', 'agent:configure'),
  ('member', 'agent:control'),
  ('member', 'agent:credentials'),
  ('member', 'code:contribute'),
  ('member', 'mr:review'),
  ('member', 'mr:approve'),
  ('member', 'escalation:respond'),
  ('member', 'llm_provider:view'),
  ('member', 'skill:request'),
  ('admin', 'canvas:view'),
  ('admin', 'task:view'),
  ('admin', 'agent:view'),
  ('admin', 'repo:view'),
  ('admin', 'mr:view'),
  ('admin', 'escalation:view'),
  ('admin', 'team:view'),
  ('admin', 'task:create'),
  ('admin', 'task:update'),
  ('admin', 'agent:create'),
  ('admin', 'agent:configure'),
  ('admin', 'agent:control'),
  ('admin', 'agent:credentials'),
  ('admin', 'code:contribute'),
  ('admin', 'mr:review'),
  ('admin', 'mr:approve'),
  ('admin', 'escalation:respond'),
  ('admin', 'llm_provider:view'),
  ('admin', 'skill:request'),
  ('admin', 'repo:create'),
  ('admin', 'escalation:configure'),
  ('admin', 'team:invite'),
  ('admin', 'team:manage'),
  ('admin', 'llm_provider:configure'),
  ('admin', 'skill:approve'),
  ('admin', 'audit:view'),
  ('admin', 'audit:export'),
  ('admin', 'billing:manage'),
  ('admin', 'org:security'),
  ('provider_admin', 'canvas:view'),
  ('provider_admin', 'task:view'),
  ('provider_admin', 'agent:view'),
  ('provider_admin', 'repo:view'),
  ('provider_admin', 'mr:view'),
  ('provider_admin', 'escalation:view'),
  ('provider_admin', 'team:view'),
  ('provider_admin', 'task:create'),
  ('provider_admin', 'task:update'),
  ('provider_admin', 'agent:create'),
  ('provider_admin', 'agent:configure'),
  ('provider_admin', 'agent:control'),
  ('provider_admin', 'agent:credentials'),
  ('provider_admin', 'code:contribute'),
  ('provider_admin', 'mr:review'),
  ('provider_admin', 'mr:approve'),
  ('provider_admin', 'escalation:respond'),
  ('provider_admin', 'llm_provider:view'),
  ('provider_admin', 'skill:request'),
  ('provider_admin', 'repo:create'),
  ('provider_admin', 'escalation:configure'),
  ('provider_admin', 'team:invite'),
  ('provider_admin', 'team:manage'),
  ('provider_admin', 'llm_provider:configure'),
  ('provider_admin', 'skill:approve'),
  ('provider_admin', 'audit:view'),
  ('provider_admin', 'audit:export'),
  ('provider_admin', 'org:security'),
  ('provider_admin', 'llm_provider:cross_org');

create table authz.memberships (
  org_id     uuid        not null,
  user_id    uuid        not null,
  role       text        not null check (role in ('viewer', 'member', 'admin')),
  created_at timestamptz not null default now(),
  primary key (org_id, user_id)
);
create index memberships_user on authz.memberships (user_id);

-- One sign-in is one session: a refresh-token family (DESIGN §5). Not an event stream: rotations every few minutes
-- would flood the immutable log; events record SessionStarted / RefreshTokenReuseDetected / SessionRevoked.
create table authz.sessions (
  id                  uuid primary key,
  principal_type      text        not null check (principal_type in ('human', 'agent')),
  principal_id        uuid        not null,
  -- Set for agents, whose tokens are bound to the organisation that owns them.
  org_id              uuid,
  counter             bigint      not null default 0,
  rotated_at          timestamptz not null,
  -- The token just rotated away still returns the same successor until then (two tabs, a lost response).
  grace_until         timestamptz,
  amr                 text[]      not null,
  mfa_at              timestamptz,
  -- SHA-256 of the per-session proof the API derives (HMAC of its key and the session id); never the proof itself.
  proof_hash          bytea       not null,
  created_at          timestamptz not null,
  idle_expires_at     timestamptz not null,
  absolute_expires_at timestamptz not null,
  revoked_at          timestamptz,
  revoked_reason      text,
  ip                  text,
  user_agent          text,
  check ((principal_type = 'agent') = (org_id is not null))
);
create index sessions_principal on authz.sessions (principal_id) where revoked_at is null;

-- The database's own secret, which binds a proven principal to one transaction. No login role can read it.
create table authz.secrets (
  name  text primary key,
  value bytea not null
);
insert into authz.secrets (name, value) values ('transaction-binding', extensions.gen_random_bytes(32));

-- Appends one event at the stream's next revision, as bastion_authz. Internal: granted to no one.
create function authz.append_event(p_stream text, p_event jsonb, p_expected bigint default null) returns bigint
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_rev bigint;
begin
  select coalesce(max(revision), -1) into v_rev from public.events where stream_id = p_stream;
  if p_expected is not null and v_rev <> p_expected then
    raise exception 'stream % is at revision %, expected %', p_stream, v_rev, p_expected using errcode = '40001';
  end if;
  insert into public.events (id, stream_id, revision, type, org_id, data, metadata)
  values ((p_event ->> 'id')::uuid, p_stream, v_rev + 1, p_event ->> 'type',
          (p_event -> 'metadata' ->> 'orgId')::uuid, p_event -> 'data', p_event -> 'metadata');
  return v_rev + 1;
end
$$;

-- Refuses an event whose type or actor is not what the calling function is for.
create function authz.expect_event(p_event jsonb, p_type text, p_actor_type text, p_actor_id text) returns void
language plpgsql immutable set search_path = pg_catalog, pg_temp as $$
begin
  if p_event ->> 'type' is distinct from p_type
     or p_event -> 'metadata' -> 'actor' ->> 'type' is distinct from p_actor_type
     or (p_actor_id is not null and p_event -> 'metadata' -> 'actor' ->> 'id' is distinct from p_actor_id) then
    raise exception 'refused: expected a % event by % %', p_type, p_actor_type, coalesce(p_actor_id, '') using errcode = '42501';
  end if;
end
$$;

-- The HMAC that binds everything authz.begin established — session, principal, its type and the org — to this
-- one transaction. A `set_config` of any of them (or a reuse in another transaction) no longer matches it.
create function authz.binding(p_session text, p_principal text, p_type text, p_org text) returns text
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select encode(extensions.hmac(
           convert_to(concat_ws('|', p_session, p_principal, p_type, coalesce(p_org, ''), pg_current_xact_id()::text), 'UTF8'),
           (select value from authz.secrets where name = 'transaction-binding'), 'sha256'), 'hex')
$$;

/*
 * The first statement of every authenticated request's transaction. Checks that the session is live and that the
 * caller holds its proof, then binds the principal to this transaction: the settings are transaction-local, and the
 * binding is an HMAC under a secret the app cannot read, so `set_config` by injected SQL forges nothing.
 */
create function authz.begin(p_session uuid, p_proof bytea, p_org uuid default null)
returns table (principal_type text, principal_id uuid, org_id uuid, mfa_at timestamptz)
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  s authz.sessions;
begin
  select * into s from authz.sessions where id = p_session;
  if not found or s.revoked_at is not null or s.idle_expires_at <= now() or s.absolute_expires_at <= now()
     or s.proof_hash <> extensions.digest(p_proof, 'sha256') then
    raise exception 'session not live' using errcode = '28000';
  end if;
  perform set_config('bastion.session_id', s.id::text, true);
  perform set_config('bastion.principal_id', s.principal_id::text, true);
  perform set_config('bastion.principal_type', s.principal_type, true);
  perform set_config('bastion.org_id', coalesce(p_org::text, ''), true);
  perform set_config('bastion.binding', authz.binding(s.id::text, s.principal_id::text, s.principal_type, coalesce(p_org::text, '')), true);
  return query select s.principal_type, s.principal_id, s.org_id, s.mfa_at;
end
$$;

-- The session proven in this transaction, or NULL when nothing (or something forged) is bound.
create function authz.current_session() returns uuid
language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_session uuid := nullif(current_setting('bastion.session_id', true), '')::uuid;
begin
  if v_session is null or current_setting('bastion.binding', true) is distinct from authz.binding(
       v_session::text, current_setting('bastion.principal_id', true), current_setting('bastion.principal_type', true),
       coalesce(current_setting('bastion.org_id', true), '')) then
    return null;
  end if;
  return v_session;
end
$$;

create function authz.current_principal() returns uuid
language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
begin
  if authz.current_session() is null then
    return null;
  end if;
  return nullif(current_setting('bastion.principal_id', true), '')::uuid;
end
$$;

create function authz.current_principal_type() returns text
language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
begin
  if authz.current_session() is null then
    return null;
  end if;
  return nullif(current_setting('bastion.principal_type', true), '');
end
$$;

-- Does the proven human principal hold `p_permission` in `p_org`?
create function authz.has_permission(p_org uuid, p_permission text) returns boolean
language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
begin
  return authz.current_principal_type() = 'human' and exists (
    select 1 from authz.memberships m
      join authz.role_permissions rp on rp.role = m.role
     where m.org_id = p_org and m.user_id = authz.current_principal() and rp.permission = p_permission);
end
$$;

revoke all on all functions in schema authz from public;
grant execute on function authz.begin(uuid, bytea, uuid), authz.current_principal(), authz.current_principal_type(),
  authz.current_session(), authz.has_permission(uuid, text) to bastion_app;

