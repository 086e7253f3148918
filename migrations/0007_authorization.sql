-- Organisations and Row-Level Security (DESIGN §4, §6): providers, org security settings, the event-authority
-- table behind the events insert policy, invitations and team management, and the scalar policy functions
-- (`current_org_if`, `orgs_with_permission`) that every read-model policy compares against.
set local role bastion_authz;

create table authz.providers (
  id         uuid primary key,
  name       text        not null,
  created_at timestamptz not null default now()
);

create table authz.provider_admins (
  provider_id uuid        not null references authz.providers (id),
  user_id     uuid        not null references authz.users (id),
  created_at  timestamptz not null default now(),
  primary key (provider_id, user_id)
);

-- Write-side record of each organisation: who provides it, and its security settings.
create table authz.organizations (
  org_id       uuid primary key,
  provider_id  uuid references authz.providers (id),
  mfa_required boolean     not null default false,
  created_at   timestamptz not null default now()
);
insert into authz.organizations (org_id, created_at)
  select distinct org_id, min(created_at) from authz.memberships group by org_id;

-- Custom SQLSTATEs the API maps to problem types (class BA: Bastion authorisation).
--   BA001 step-up MFA required · BA002 the last Admin cannot go · BA003 MFA enrolment required by the org
--   BA004 not a member of the organisation

create table authz.event_authority (
  type  text primary key,
  human text not null,
  agent text
);
create table authz.agent_capabilities (capability text primary key);
insert into authz.event_authority (type, human, agent) values
  ('UserSignedUp', 'platform', null),
  ('EmailVerified', 'platform', null),
  ('PasswordResetRequested', 'platform', null),
  ('PasswordReset', 'platform', null),
  ('SessionStarted', 'platform', null),
  ('SessionRevoked', 'platform', null),
  ('RefreshTokenReuseDetected', 'system', null),
  ('SignInFailed', 'platform', null),
  ('SignInThrottled', 'system', null),
  ('OrganizationCreated', 'platform', null),
  ('OrganizationProvisioned', 'system', null),
  ('MemberAdded', 'platform', null),
  ('MemberInvited', 'team:invite', null),
  ('InvitationRevoked', 'team:invite', null),
  ('InvitationAccepted', 'platform', null),
  ('MemberRoleChanged', 'team:manage', null),
  ('MemberRemoved', 'team:manage', null),
  ('MemberLeft', 'platform', null),
  ('ProviderCreated', 'system', null),
  ('ProviderAdminGranted', 'system', null),
  ('ProviderAdminRevoked', 'system', null),
  ('OrganizationAttachedToProvider', 'system', null),
  ('AgentCreated', 'agent:create', null),
  ('AgentKeyIssued', 'agent:credentials', null),
  ('AgentKeyRevoked', 'agent:credentials', null),
  ('TaskCreated', 'task:create', null),
  ('TaskUpdated', 'task:update', 'task:work_assigned'),
  ('TaskAssigned', 'task:update', null),
  ('TaskMoved', 'task:update', 'task:work_assigned'),
  ('TaskCancelled', 'task:update', null);
insert into authz.agent_capabilities (capability) values
  ('task:work_assigned'),
  ('code:push_agent_branch'),
  ('mr:open'),
  ('test:request'),
  ('llm:call'),
  ('skill:request'),
  ('escalation:open');

create table authz.invitations (
  id               uuid primary key,
  org_id           uuid        not null references authz.organizations (org_id),
  email            text        not null,
  email_normalized text        not null,
  role             text        not null check (role in ('viewer', 'member', 'admin')),
  token_hash       bytea       not null unique,
  invited_by       uuid        not null,
  created_at       timestamptz not null default now(),
  expires_at       timestamptz not null,
  accepted_at      timestamptz,
  accepted_by      uuid,
  revoked_at       timestamptz
);

-- Does the proven principal hold `p_permission` in `p_org`? Humans through their membership's role, or as a
-- Provider Admin of the organisation's provider. Agents hold no role, hence no permission (their capabilities are
-- checked by `authz.may_append` and by agent-specific policies).
create or replace function authz.has_permission(p_org uuid, p_permission text) returns boolean
language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_user uuid := authz.current_principal();
begin
  if v_user is null or authz.current_principal_type() <> 'human' then
    return false;
  end if;
  return exists (
      select 1 from authz.memberships m join authz.role_permissions rp on rp.role = m.role
       where m.org_id = p_org and m.user_id = v_user and rp.permission = p_permission)
    or exists (
      select 1 from authz.organizations o
        join authz.provider_admins pa on pa.provider_id = o.provider_id
        join authz.role_permissions rp on rp.role = 'provider_admin'
       where o.org_id = p_org and pa.user_id = v_user and rp.permission = p_permission);
end
$$;

-- The request's organisation, once authz.begin has bound a principal that belongs to it.
create function authz.current_org() returns uuid
language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
begin
  if authz.current_session() is null then
    return null;
  end if;
  return nullif(current_setting('bastion.org_id', true), '')::uuid;
end
$$;

/*
 * The scalar every read-model policy compares against: `org_id = (select authz.current_org_if('task:view'))`.
 * Evaluated once per statement (an InitPlan), never per row.
 */
create function authz.current_org_if(p_permission text) returns uuid
language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_org uuid := authz.current_org();
begin
  if v_org is not null and authz.has_permission(v_org, p_permission) then
    return v_org;
  end if;
  return null;
end
$$;

-- Every organisation where the proven human holds the permission (a Provider Admin's cross-org overview).
create function authz.orgs_with_permission(p_permission text) returns uuid[]
language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_user uuid := authz.current_principal();
begin
  if v_user is null or authz.current_principal_type() <> 'human' then
    return '{}';
  end if;
  return array(
    select m.org_id from authz.memberships m join authz.role_permissions rp on rp.role = m.role
     where m.user_id = v_user and rp.permission = p_permission
    union
    select o.org_id from authz.organizations o
      join authz.provider_admins pa on pa.provider_id = o.provider_id
      join authz.role_permissions rp on rp.role = 'provider_admin'
     where pa.user_id = v_user and rp.permission = p_permission);
end
$$;

-- The organisation of the proven agent, when the request is scoped to it.
create function authz.current_agent_org() returns uuid
language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
begin
  if authz.current_principal_type() is distinct from 'agent' then
    return null;
  end if;
  return authz.current_org();
end
$$;

-- May the proven principal append an event of this type in the request's organisation?
create function authz.may_append(p_type text) returns boolean
language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
declare
  a authz.event_authority;
  v_org uuid := authz.current_org();
begin
  select * into a from authz.event_authority where type = p_type;
  if not found or v_org is null then
    return false;
  end if;
  if authz.current_principal_type() = 'human' then
    return a.human not in ('platform', 'system') and authz.has_permission(v_org, a.human);
  end if;
  return a.agent is not null;
end
$$;

create function authz.is_member(p_org uuid) returns boolean
language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_user uuid := authz.current_principal();
begin
  return exists (select 1 from authz.memberships where org_id = p_org and user_id = v_user)
      or exists (select 1 from authz.organizations o join authz.provider_admins pa on pa.provider_id = o.provider_id
                  where o.org_id = p_org and pa.user_id = v_user);
end
$$;

/*
 * authz.begin, now scoped to an organisation: the principal must belong to it (a member, a Provider Admin of its
 * provider, or an agent it owns).
 */
create or replace function authz.begin(p_session uuid, p_proof bytea, p_org uuid default null)
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
  perform set_config('bastion.org_id', '', true);
  perform set_config('bastion.binding', authz.binding(s.id::text, s.principal_id::text, s.principal_type, ''), true);
  if p_org is not null then
    if (s.principal_type = 'agent' and s.org_id is distinct from p_org)
       or (s.principal_type = 'human' and not authz.is_member(p_org)) then
      raise exception 'not a member of this organisation' using errcode = 'BA004';
    end if;
    perform set_config('bastion.org_id', p_org::text, true);
    perform set_config('bastion.binding', authz.binding(s.id::text, s.principal_id::text, s.principal_type, p_org::text), true);
  end if;
  return query select s.principal_type, s.principal_id, s.org_id, s.mfa_at;
end
$$;

-- Step-up (DESIGN §5): the session's last MFA verification — on the session row, not a token claim — is fresh.
create function authz.require_fresh_mfa() returns void
language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
begin
  if not exists (select 1 from authz.sessions where id = authz.current_session()
                  and mfa_at is not null and mfa_at > now() - interval '15 minutes') then
    raise exception 'step-up MFA required' using errcode = 'BA001';
  end if;
end
$$;

create or replace function authz.create_organization(p_org uuid, p_events jsonb) returns void
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_user uuid := authz.current_principal();
begin
  if v_user is null or authz.current_principal_type() <> 'human' then
    raise exception 'refused: a signed-in human creates organisations' using errcode = '42501';
  end if;
  perform authz.expect_event(p_events -> 0, 'OrganizationCreated', 'human', v_user::text);
  perform authz.expect_event(p_events -> 1, 'MemberAdded', 'human', v_user::text);
  if jsonb_array_length(p_events) <> 2 or (p_events -> 1 -> 'data' ->> 'userId')::uuid <> v_user
     or p_events -> 1 -> 'data' ->> 'role' <> 'admin' or (p_events -> 0 -> 'data' ->> 'orgId')::uuid <> p_org
     or p_events -> 0 -> 'data' ->> 'providerId' is not null then
    raise exception 'refused: malformed organisation creation' using errcode = '42501';
  end if;
  insert into authz.organizations (org_id) values (p_org);
  insert into authz.memberships (org_id, user_id, role) values (p_org, v_user, 'admin');
  perform authz.append_event('org-' || p_org, p_events -> 0, -1);
  perform authz.append_event('org-' || p_org, p_events -> 1, 0);
end
$$;

-- Invite by email with an org role (never provider_admin). The token's hash only; the event has no token.
create function authz.invite_member(p_org uuid, p_invitation uuid, p_email text, p_email_normalized text, p_role text,
                                    p_token_hash bytea, p_expires timestamptz, p_event jsonb) returns void
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  if not authz.has_permission(p_org, 'team:invite') then
    raise exception 'refused: team:invite' using errcode = '42501';
  end if;
  if p_role not in ('viewer', 'member', 'admin') then
    raise exception 'refused: an organisation invites viewers, members or admins only' using errcode = '42501';
  end if;
  perform authz.expect_event(p_event, 'MemberInvited', 'human', authz.current_principal()::text);
  insert into authz.invitations (id, org_id, email, email_normalized, role, token_hash, invited_by, expires_at)
  values (p_invitation, p_org, p_email, p_email_normalized, p_role, p_token_hash, authz.current_principal(), p_expires);
  perform authz.append_event('org-' || p_org, p_event);
end
$$;

create function authz.revoke_invitation(p_org uuid, p_invitation uuid, p_event jsonb) returns boolean
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  if not authz.has_permission(p_org, 'team:invite') then
    raise exception 'refused: team:invite' using errcode = '42501';
  end if;
  perform authz.expect_event(p_event, 'InvitationRevoked', 'human', authz.current_principal()::text);
  update authz.invitations set revoked_at = now()
   where id = p_invitation and org_id = p_org and accepted_at is null and revoked_at is null;
  if not found then
    return false;
  end if;
  perform authz.append_event('org-' || p_org, p_event);
  return true;
end
$$;

-- The signed-in invitee, with a verified email equal to the invitation's, joins with the invited role.
create function authz.accept_invitation(p_token_hash bytea, p_events jsonb) returns uuid
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_user uuid := authz.current_principal();
  i authz.invitations;
begin
  if v_user is null or authz.current_principal_type() <> 'human' then
    raise exception 'refused: a signed-in human accepts invitations' using errcode = '42501';
  end if;
  select * into i from authz.invitations where token_hash = p_token_hash for update;
  if not found or i.accepted_at is not null or i.revoked_at is not null or i.expires_at <= now() then
    return null;
  end if;
  if not exists (select 1 from authz.users where id = v_user and email_normalized = i.email_normalized
                  and email_verified_at is not null) then
    raise exception 'refused: the invitation is for another (or an unverified) email' using errcode = '42501';
  end if;
  if exists (select 1 from authz.memberships where org_id = i.org_id and user_id = v_user) then
    return null;
  end if;
  update authz.invitations set accepted_at = now(), accepted_by = v_user where id = i.id;
  insert into authz.memberships (org_id, user_id, role) values (i.org_id, v_user, i.role);
  p_events := jsonb_set(p_events, '{0,data,orgId}', to_jsonb(i.org_id::text));
  p_events := jsonb_set(p_events, '{0,data,invitationId}', to_jsonb(i.id::text));
  p_events := jsonb_set(p_events, '{0,metadata,orgId}', to_jsonb(i.org_id::text));
  p_events := jsonb_set(p_events, '{1,data,orgId}', to_jsonb(i.org_id::text));
  p_events := jsonb_set(p_events, '{1,data,role}', to_jsonb(i.role));
  p_events := jsonb_set(p_events, '{1,metadata,orgId}', to_jsonb(i.org_id::text));
  perform authz.expect_event(p_events -> 0, 'InvitationAccepted', 'human', v_user::text);
  perform authz.expect_event(p_events -> 1, 'MemberAdded', 'human', v_user::text);
  if (p_events -> 1 -> 'data' ->> 'userId')::uuid <> v_user then
    raise exception 'refused: malformed acceptance' using errcode = '42501';
  end if;
  perform authz.append_event('org-' || i.org_id, p_events -> 0);
  perform authz.append_event('org-' || i.org_id, p_events -> 1);
  return i.org_id;
end
$$;

create function authz.assert_admin_remains(p_org uuid, p_leaving uuid) returns void
language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
begin
  if exists (select 1 from authz.memberships where org_id = p_org and user_id = p_leaving and role = 'admin')
     and (select count(*) from authz.memberships where org_id = p_org and role = 'admin') = 1 then
    raise exception 'the last Admin cannot be removed or demoted' using errcode = 'BA002';
  end if;
end
$$;

-- Role change: team:manage, step-up MFA, never the last Admin demoted. Effective at once (authz is write-side).
create function authz.change_member_role(p_org uuid, p_user uuid, p_role text, p_event jsonb) returns boolean
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_from text;
begin
  if not authz.has_permission(p_org, 'team:manage') then
    raise exception 'refused: team:manage' using errcode = '42501';
  end if;
  perform authz.require_fresh_mfa();
  if p_role not in ('viewer', 'member', 'admin') then
    raise exception 'refused: not an organisation role' using errcode = '42501';
  end if;
  select role into v_from from authz.memberships where org_id = p_org and user_id = p_user for update;
  if v_from is null then
    return false;
  end if;
  if p_role <> 'admin' then
    perform authz.assert_admin_remains(p_org, p_user);
  end if;
  perform authz.expect_event(p_event, 'MemberRoleChanged', 'human', authz.current_principal()::text);
  update authz.memberships set role = p_role where org_id = p_org and user_id = p_user;
  perform authz.append_event('org-' || p_org, jsonb_set(p_event, '{data,from}', to_jsonb(v_from)));
  return true;
end
$$;

-- Removal (team:manage) or leaving (oneself): never the last Admin; the removed member's sessions end.
create function authz.remove_member(p_org uuid, p_user uuid, p_event jsonb) returns boolean
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_self boolean := p_user = authz.current_principal();
begin
  if v_self then
    perform authz.expect_event(p_event, 'MemberLeft', 'human', p_user::text);
  else
    if not authz.has_permission(p_org, 'team:manage') then
      raise exception 'refused: team:manage' using errcode = '42501';
    end if;
    perform authz.expect_event(p_event, 'MemberRemoved', 'human', authz.current_principal()::text);
  end if;
  perform 1 from authz.memberships where org_id = p_org and user_id = p_user for update;
  if not found then
    return false;
  end if;
  perform authz.assert_admin_remains(p_org, p_user);
  delete from authz.memberships where org_id = p_org and user_id = p_user;
  if not v_self then
    update authz.sessions set revoked_at = now(), revoked_reason = 'removed_from_org'
     where principal_type = 'human' and principal_id = p_user and revoked_at is null;
  end if;
  perform authz.append_event('org-' || p_org, p_event);
  return true;
end
$$;

create function authz.current_user_stream() returns text
language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
begin
  if authz.current_principal_type() is distinct from 'human' then
    return null;
  end if;
  return 'user-' || authz.current_principal();
end
$$;

reset role;
grant usage on schema authz to bastion_owner;
set local role bastion_owner;

-- The events table for the API's role (DESIGN §3): reads only the request's organisation (and the principal's own
-- user stream); appends only org-scoped events whose type the principal may cause, as itself.
create policy events_app_read on events for select to bastion_app
  using (org_id = (select authz.current_org()) and (select authz.current_principal_type()) = 'human'
         or stream_id = (select authz.current_user_stream()));
create policy events_app_append on events for insert to bastion_app
  with check (
    org_id = (select authz.current_org())
    and metadata -> 'actor' ->> 'id' = (select authz.current_principal())::text
    and metadata -> 'actor' ->> 'type' = (select authz.current_principal_type())
    and authz.may_append(type));

reset role;
set local role bastion_authz;
revoke all on all functions in schema authz from public;
grant execute on function
  authz.begin(uuid, bytea, uuid), authz.current_principal(), authz.current_principal_type(), authz.current_session(),
  authz.has_permission(uuid, text), authz.current_org(), authz.current_org_if(text), authz.orgs_with_permission(text),
  authz.current_agent_org(), authz.may_append(text), authz.current_user_stream(),
  authz.sign_up(uuid, text, text, text, text, bytea, timestamptz, jsonb),
  authz.verify_email(bytea, jsonb), authz.request_password_reset(text, bytea, timestamptz, jsonb),
  authz.reset_password(bytea, text, jsonb), authz.sign_in_lookup(text), authz.rehash_password(uuid, text, text),
  authz.record_sign_in_failure(uuid, jsonb),
  authz.start_session(uuid, text, uuid, uuid, text[], bytea, timestamptz, timestamptz, text, text, jsonb),
  authz.refresh_state(uuid), authz.rotate_session(uuid, bigint, timestamptz, timestamptz),
  authz.revoke_session(uuid, text, jsonb), authz.my_sessions(), authz.revoke_my_session(uuid, jsonb),
  authz.create_organization(uuid, jsonb), authz.create_agent(uuid, uuid, text, jsonb),
  authz.issue_agent_key(uuid, uuid, uuid, text, bytea, timestamptz, jsonb),
  authz.revoke_agent_key(uuid, uuid, uuid, jsonb), authz.agent_key_lookup(text),
  authz.invite_member(uuid, uuid, text, text, text, bytea, timestamptz, jsonb),
  authz.revoke_invitation(uuid, uuid, jsonb), authz.accept_invitation(bytea, jsonb),
  authz.change_member_role(uuid, uuid, text, jsonb), authz.remove_member(uuid, uuid, jsonb)
to bastion_app;
-- The read-model policies are evaluated as the querying role: the projector and worker need the scalars too.
grant execute on function authz.current_org_if(text), authz.orgs_with_permission(text), authz.current_agent_org(),
  authz.current_principal(), authz.current_org(), authz.current_principal_type(), authz.current_user_stream(),
  authz.may_append(text), authz.current_session(), authz.has_permission(uuid, text)
to bastion_projector, bastion_worker;
