-- Definer functions append only events of the org they act on (the NULL and event-content audit of 2026-11-26,
-- SECURITY.md "The app's role appends an event only in the request's org"). SQL running as bastion_app could, before
-- this migration:
--   * write events into another organisation's log: create_organization, change_member_role and other definer
--     functions appended the caller's event with whatever `metadata.orgId` (which becomes `events.org_id`, what the
--     org's members read and its audit chain covers) and `data.orgId` (what the projector keys its read models on)
--     it carried, e.g. a MemberRoleChanged in org A's stream that demotes org V's admin in V's member list;
--   * leave events the projector cannot apply (a MemberAdded with no userId), which stall a projection for everyone,
--     through create_organization's and accept_invitation's checks that a missing field made NULL (IF takes NULL for
--     false);
--   * get past `not in` refusals with a NULL role (change_member_role skipped its last-Admin check and
--     invite_member its step-up; each then failed only on a NOT NULL column);
--   * stretch a session's idle expiry to its absolute expiry by rotating it with a NULL idle expiry (least() ignores
--     NULL);
--   * burn every future TOTP code of any user with mfa_consume_step(<user>, <max bigint>), or confirm an enrolment
--     with a NULL step, which left the credential without replay protection.
-- Now append_event, which every definer function appends through, derives the org from the stream (an org's
-- stream, an agent's or a repository's org, none for a user's or a sign-in's) and refuses an event whose
-- `metadata.orgId` or `data.orgId` says otherwise; the organisation creation and the acceptance pin every field
-- the projector reads; the role checks and the rotations refuse NULL; a TOTP step must be near the database's clock. The attacks are tests:
-- test/e2e/app-role-functions.e2e.spec.ts.
set local role bastion_authz;

create or replace function authz.append_event(p_stream text, p_event jsonb, p_expected bigint default null) returns bigint
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_rev bigint;
  v_kind text := split_part(p_stream, '-', 1);
  v_id text := substr(p_stream, length(split_part(p_stream, '-', 1)) + 2);
  v_org uuid;
begin
  -- The org an event of this stream belongs to, from the stream alone.
  if v_kind = 'org' then
    v_org := v_id::uuid;
  elsif v_kind = 'agent' then
    select a.org_id into strict v_org from authz.agents a where a.id = v_id::uuid;
  elsif v_kind = 'repo' then
    select r.org_id into strict v_org from authz.repositories r where r.repo_id = v_id::uuid;
  elsif coalesce(v_kind, '') not in ('user', 'signin') then
    raise exception 'refused: no definer function appends to stream %', p_stream using errcode = '42501';
  end if;
  -- Every reader dispatches on the type, dates events by occurredAt and reads fields of the data: an event without
  -- them would stop the projector at its position (and a NULL type made the callers' `type not in (…)` refusals
  -- NULL; jsonb_set leaves a scalar `data` as it is, so the callers' pinning needs an object).
  if coalesce(p_event ->> 'type', '') = '' or (p_event -> 'metadata' ->> 'occurredAt')::timestamptz is null
     or jsonb_typeof(p_event -> 'data') is distinct from 'object' then
    raise exception 'refused: an event without a type, an occurredAt or an object of data' using errcode = '42501';
  end if;
  if (p_event -> 'metadata' ->> 'orgId')::uuid is distinct from v_org
     or (p_event -> 'data' ? 'orgId' and (p_event -> 'data' ->> 'orgId')::uuid is distinct from v_org) then
    raise exception 'refused: a % event of stream % names another organisation', p_event ->> 'type', p_stream
      using errcode = '42501';
  end if;
  perform pg_advisory_xact_lock(736155203, hashtext(p_stream));
  select coalesce(max(revision), -1) into v_rev from public.events where stream_id = p_stream;
  if p_expected is not null and v_rev <> p_expected then
    raise exception 'stream % is at revision %, expected %', p_stream, v_rev, p_expected using errcode = '40001';
  end if;
  insert into public.events (id, stream_id, revision, type, org_id, data, metadata)
  values ((p_event ->> 'id')::uuid, p_stream, v_rev + 1, p_event ->> 'type', v_org, p_event -> 'data', p_event -> 'metadata');
  return v_rev + 1;
end
$$;
revoke all on function authz.append_event(text, jsonb, bigint) from public;

create or replace function authz.create_organization(p_org uuid, p_events jsonb) returns void
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_user uuid := authz.current_principal();
begin
  if v_user is null or authz.current_principal_type() is distinct from 'human' then
    raise exception 'refused: a signed-in human creates organisations' using errcode = '42501';
  end if;
  if p_org is null or jsonb_array_length(p_events) is distinct from 2
     or p_events -> 0 -> 'data' ->> 'providerId' is not null
     or coalesce(p_events -> 0 -> 'data' ->> 'name', '') = '' then
    raise exception 'refused: malformed organisation creation' using errcode = '42501';
  end if;
  -- Every field the projector and the audit read comes from here, not from the caller.
  p_events := jsonb_set(p_events, '{0,data,orgId}', to_jsonb(p_org::text));
  p_events := jsonb_set(p_events, '{0,data,createdBy}', to_jsonb(v_user::text));
  p_events := jsonb_set(p_events, '{0,data,providerId}', 'null'::jsonb);
  p_events := jsonb_set(p_events, '{0,metadata,orgId}', to_jsonb(p_org::text));
  p_events := jsonb_set(p_events, '{1,data,orgId}', to_jsonb(p_org::text));
  p_events := jsonb_set(p_events, '{1,data,userId}', to_jsonb(v_user::text));
  p_events := jsonb_set(p_events, '{1,data,role}', to_jsonb('admin'::text));
  p_events := jsonb_set(p_events, '{1,metadata,orgId}', to_jsonb(p_org::text));
  perform authz.expect_event(p_events -> 0, 'OrganizationCreated', 'human', v_user::text);
  perform authz.expect_event(p_events -> 1, 'MemberAdded', 'human', v_user::text);
  insert into authz.organizations (org_id) values (p_org);
  insert into authz.memberships (org_id, user_id, role) values (p_org, v_user, 'admin');
  perform authz.append_event('org-' || p_org, p_events -> 0, -1);
  perform authz.append_event('org-' || p_org, p_events -> 1, 0);
end
$$;

-- As migration 0007's, with the member's id pinned like the org and the role (a missing userId passed the check).
create or replace function authz.accept_invitation(p_token_hash bytea, p_events jsonb) returns uuid
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_user uuid := authz.current_principal();
  i authz.invitations;
begin
  if v_user is null or authz.current_principal_type() is distinct from 'human' then
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
  p_events := jsonb_set(p_events, '{1,data,userId}', to_jsonb(v_user::text));
  p_events := jsonb_set(p_events, '{1,data,role}', to_jsonb(i.role));
  p_events := jsonb_set(p_events, '{1,metadata,orgId}', to_jsonb(i.org_id::text));
  perform authz.expect_event(p_events -> 0, 'InvitationAccepted', 'human', v_user::text);
  perform authz.expect_event(p_events -> 1, 'MemberAdded', 'human', v_user::text);
  perform authz.append_event('org-' || i.org_id, p_events -> 0);
  perform authz.append_event('org-' || i.org_id, p_events -> 1);
  return i.org_id;
end
$$;

-- As migration 0007's, with a NULL role refused and the event's org, member and new role pinned to the arguments.
create or replace function authz.change_member_role(p_org uuid, p_user uuid, p_role text, p_event jsonb) returns boolean
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_from text;
begin
  if not authz.has_permission(p_org, 'team:manage') then
    raise exception 'refused: team:manage' using errcode = '42501';
  end if;
  perform authz.require_fresh_mfa();
  if p_role is null or p_role not in ('viewer', 'member', 'admin') then
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
  p_event := jsonb_set(p_event, '{data,orgId}', to_jsonb(p_org::text));
  p_event := jsonb_set(p_event, '{data,userId}', to_jsonb(p_user::text));
  p_event := jsonb_set(p_event, '{data,to}', to_jsonb(p_role));
  p_event := jsonb_set(p_event, '{data,from}', to_jsonb(v_from));
  update authz.memberships set role = p_role where org_id = p_org and user_id = p_user;
  perform authz.append_event('org-' || p_org, p_event);
  return true;
end
$$;

-- As migration 0021's, with a NULL role refused (it skipped the admin invitation's step-up).
create or replace function authz.invite_member(p_org uuid, p_invitation uuid, p_email text, p_email_normalized text,
                                              p_role text, p_token_hash bytea, p_expires timestamptz, p_event jsonb)
returns void language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  if not authz.has_permission(p_org, 'team:invite') then
    raise exception 'refused: team:invite' using errcode = '42501';
  end if;
  if p_role is null or p_role not in ('viewer', 'member', 'admin') then
    raise exception 'refused: an organisation invites viewers, members or admins only' using errcode = '42501';
  end if;
  if p_role = 'admin' then
    perform authz.require_fresh_mfa();
  end if;
  perform authz.expect_event(p_event, 'MemberInvited', 'human', authz.current_principal()::text);
  if p_event -> 'data' ->> 'role' is distinct from p_role
     or (p_event -> 'data' ->> 'invitationId')::uuid is distinct from p_invitation
     or (p_event -> 'data' ->> 'orgId')::uuid is distinct from p_org
     or (p_event -> 'metadata' ->> 'orgId')::uuid is distinct from p_org then
    raise exception 'refused: the event does not describe the invitation' using errcode = '42501';
  end if;
  insert into authz.invitations (id, org_id, email, email_normalized, role, token_hash, invited_by, expires_at)
  values (p_invitation, p_org, p_email, p_email_normalized, p_role, p_token_hash, authz.current_principal(), p_expires);
  perform authz.append_event('org-' || p_org, p_event);
end
$$;



-- A rotation with no idle expiry rotates nothing (least() would have taken the absolute expiry).
create or replace function authz.rotate_current(p_session uuid, p_counter bigint, p_grace_until timestamptz,
                                                p_idle_expires timestamptz)
returns table (principal_id uuid, counter bigint, amr text[], absolute_expires_at timestamptz)
language sql security definer set search_path = pg_catalog, pg_temp as $$
  update authz.sessions
     set counter = counter + 1, rotated_at = now(), grace_until = p_grace_until,
         idle_expires_at = least(p_idle_expires, absolute_expires_at)
   where id = p_session and principal_type = 'human' and counter = p_counter and revoked_at is null
     and idle_expires_at > now() and absolute_expires_at > now() and p_idle_expires is not null
  returning principal_id, counter, amr, absolute_expires_at
$$;

create or replace function authz.rotate_session(p_session uuid, p_expected_counter bigint, p_grace_until timestamptz,
                                                p_idle_expires timestamptz)
returns boolean language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  update authz.sessions
     set counter = counter + 1, rotated_at = now(), grace_until = p_grace_until,
         idle_expires_at = least(p_idle_expires, absolute_expires_at)
   where id = p_session and counter = p_expected_counter and revoked_at is null and p_idle_expires is not null;
  return found;
end
$$;

-- The TOTP time step the API verified a code for is one near the database's clock: the API accepts the current step
-- and its neighbours by its own clock, read inside this transaction; the database takes two steps back (a slow
-- request, a host a little behind) and one ahead. A NULL or far step burned every later code of any user
-- (mfa_consume_step(<user>, <max bigint>) needs no code), and a NULL confirmed step left the credential without
-- replay protection. The code itself is still verified by the API (SECURITY.md, Trusted).
create or replace function authz.totp_step_is_current(p_step bigint) returns boolean
language sql volatile set search_path = pg_catalog, pg_temp as $$
  select coalesce(p_step - floor(extract(epoch from clock_timestamp()) / 30)::bigint between -2 and 1, false)
$$;
revoke all on function authz.totp_step_is_current(bigint) from public;

create or replace function authz.mfa_consume_step(p_user uuid, p_step bigint) returns boolean
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  if not authz.totp_step_is_current(p_step) then
    return false;
  end if;
  update authz.totp_credentials set last_used_step = p_step
   where user_id = p_user and (last_used_step is null or last_used_step < p_step);
  return found;
end
$$;

create or replace function authz.mfa_confirm(p_step bigint, p_code_hashes bytea[], p_event jsonb) returns boolean
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_user uuid := authz.current_principal();
begin
  perform authz.expect_event(p_event, 'TotpEnrolled', 'human', v_user::text);
  if not authz.totp_step_is_current(p_step) then
    return false;
  end if;
  update authz.totp_credentials set status = 'active', confirmed_at = now(), last_used_step = p_step
   where user_id = v_user and status = 'pending' and (last_used_step is null or last_used_step < p_step);
  if not found then
    return false;
  end if;
  delete from authz.recovery_codes where user_id = v_user;
  insert into authz.recovery_codes (user_id, code_hash) select v_user, unnest(p_code_hashes);
  update authz.sessions set mfa_at = now(), amr = case when 'otp' = any (amr) then amr else amr || array['otp'] end
   where id = authz.current_session();
  perform authz.append_event('user-' || v_user, p_event);
  return true;
end
$$;

reset role;
