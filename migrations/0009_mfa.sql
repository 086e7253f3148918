-- MFA (DESIGN §5, §9): TOTP credentials (the secret only as a Fernet token, with the user id inside the plaintext),
-- hashed single-use recovery codes, the last used time step (RFC 6238 §5.2: each step is accepted once), org-wide
-- enforcement in authz.begin, and step-up on the session row. No secret, code or hash ever enters an event.
set local role bastion_authz;

create table authz.totp_credentials (
  user_id        uuid primary key references authz.users (id),
  secret_token   text        not null,
  status         text        not null check (status in ('pending', 'active')),
  last_used_step bigint,
  created_at     timestamptz not null default now(),
  confirmed_at   timestamptz
);

create table authz.recovery_codes (
  user_id   uuid        not null references authz.users (id),
  code_hash bytea       not null,
  used_at   timestamptz,
  primary key (user_id, code_hash)
);

create function authz.has_active_totp(p_user uuid) returns boolean
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select exists (select 1 from authz.totp_credentials where user_id = p_user and status = 'active')
$$;

-- Starts (or restarts, before confirmation) an enrolment. Replacing an active credential needs a fresh MFA check.
create function authz.mfa_begin_enrolment(p_secret_token text) returns void
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_user uuid := authz.current_principal();
begin
  if v_user is null or authz.current_principal_type() <> 'human' then
    raise exception 'refused: a signed-in human enrols' using errcode = '42501';
  end if;
  if authz.has_active_totp(v_user) then
    perform authz.require_fresh_mfa();
  end if;
  insert into authz.totp_credentials (user_id, secret_token, status) values (v_user, p_secret_token, 'pending')
  on conflict (user_id) do update set secret_token = excluded.secret_token, status = 'pending', last_used_step = null,
                                      created_at = now(), confirmed_at = null;
end
$$;

-- The proven user's credential (Fernet token, state, last step), for the API to check a code against.
create function authz.mfa_my_credential() returns table (secret_token text, status text, last_used_step bigint)
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select secret_token, status, last_used_step from authz.totp_credentials where user_id = authz.current_principal()
$$;

-- Pre-authentication (an MFA challenge carries the user id, signed by the API): the same, for one user.
create function authz.mfa_credential_for_challenge(p_user uuid) returns table (secret_token text, last_used_step bigint)
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select secret_token, last_used_step from authz.totp_credentials where user_id = p_user and status = 'active'
$$;

-- Uses up a time step, atomically: of two submissions of one code, one moves last_used_step and the other fails.
create function authz.mfa_consume_step(p_user uuid, p_step bigint) returns boolean
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  update authz.totp_credentials set last_used_step = p_step
   where user_id = p_user and (last_used_step is null or last_used_step < p_step);
  return found;
end
$$;

-- Confirms the pending enrolment with a code's step, stores the hashed recovery codes, marks this session MFA-fresh.
create function authz.mfa_confirm(p_step bigint, p_code_hashes bytea[], p_event jsonb) returns boolean
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_user uuid := authz.current_principal();
begin
  perform authz.expect_event(p_event, 'TotpEnrolled', 'human', v_user::text);
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

-- Uses one recovery code (pre-authentication, for a challenge's user); single-use.
create function authz.mfa_use_recovery_code(p_user uuid, p_code_hash bytea) returns boolean
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  update authz.recovery_codes set used_at = now() where user_id = p_user and code_hash = p_code_hash and used_at is null;
  return found;
end
$$;

-- Step-up: the proven session verified MFA just now (the API checked the code and consumed its step).
create function authz.mfa_step_up(p_step bigint, p_event jsonb) returns boolean
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_user uuid := authz.current_principal();
begin
  perform authz.expect_event(p_event, 'StepUpVerified', 'human', v_user::text);
  if not authz.mfa_consume_step(v_user, p_step) then
    return false;
  end if;
  update authz.sessions set mfa_at = now(), amr = case when 'otp' = any (amr) then amr else amr || array['otp'] end
   where id = authz.current_session();
  perform authz.append_event('user-' || v_user, p_event);
  return true;
end
$$;

create function authz.mfa_disable(p_event jsonb) returns boolean
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_user uuid := authz.current_principal();
begin
  perform authz.expect_event(p_event, 'TotpDisabled', 'human', v_user::text);
  perform authz.require_fresh_mfa();
  delete from authz.totp_credentials where user_id = v_user;
  if not found then
    return false;
  end if;
  delete from authz.recovery_codes where user_id = v_user;
  perform authz.append_event('user-' || v_user, p_event);
  return true;
end
$$;

-- An Admin resets a member's MFA (team:manage, step-up): credentials gone, the member's sessions end.
create function authz.mfa_reset_member(p_org uuid, p_user uuid, p_event jsonb) returns boolean
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  if not authz.has_permission(p_org, 'team:manage') then
    raise exception 'refused: team:manage' using errcode = '42501';
  end if;
  perform authz.require_fresh_mfa();
  perform authz.expect_event(p_event, 'MfaReset', 'human', authz.current_principal()::text);
  if not exists (select 1 from authz.memberships where org_id = p_org and user_id = p_user) then
    return false;
  end if;
  delete from authz.totp_credentials where user_id = p_user;
  delete from authz.recovery_codes where user_id = p_user;
  update authz.sessions set revoked_at = now(), revoked_reason = 'mfa_reset'
   where principal_type = 'human' and principal_id = p_user and revoked_at is null;
  perform authz.append_event('org-' || p_org, p_event);
  return true;
end
$$;

-- Records MFA failures, lockouts and recovery-code uses of a (pre-authentication) challenge's user.
create function authz.record_mfa_event(p_user uuid, p_event jsonb) returns void
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  if p_event ->> 'type' not in ('MfaVerificationFailed', 'MfaLockedOut', 'RecoveryCodeUsed')
     or p_event -> 'metadata' ->> 'orgId' is not null then
    raise exception 'refused: not an MFA record' using errcode = '42501';
  end if;
  perform authz.append_event('user-' || p_user, p_event);
end
$$;

-- The org's security toggle: org:security and step-up.
create function authz.set_org_security(p_org uuid, p_mfa_required boolean, p_event jsonb) returns void
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  if not authz.has_permission(p_org, 'org:security') then
    raise exception 'refused: org:security' using errcode = '42501';
  end if;
  perform authz.require_fresh_mfa();
  perform authz.expect_event(p_event, 'OrgSecuritySettingsChanged', 'human', authz.current_principal()::text);
  update authz.organizations set mfa_required = p_mfa_required where org_id = p_org;
  perform authz.append_event('org-' || p_org, p_event);
end
$$;

/*
 * authz.begin with the organisation's MFA rule, checked in the request's transaction so no route can forget it:
 * in an org that requires MFA, a human without TOTP reaches nothing of it (BA003: enrol first), and a session that
 * never verified MFA must step up (BA001).
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
    if s.principal_type = 'human' and exists (select 1 from authz.organizations o where o.org_id = p_org and o.mfa_required) then
      if not authz.has_active_totp(s.principal_id) then
        raise exception 'this organisation requires MFA: enrol first' using errcode = 'BA003';
      end if;
      if s.mfa_at is null then
        raise exception 'this organisation requires an MFA-verified session' using errcode = 'BA001';
      end if;
    end if;
    perform set_config('bastion.org_id', p_org::text, true);
    perform set_config('bastion.binding', authz.binding(s.id::text, s.principal_id::text, s.principal_type, p_org::text), true);
  end if;
  return query select s.principal_type, s.principal_id, s.org_id, s.mfa_at;
end
$$;

-- The proven user's own email (for the otpauth:// account name).
create function authz.my_email() returns text
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select email from authz.users where id = authz.current_principal() and authz.current_principal_type() = 'human'
$$;

insert into authz.event_authority (type, human, agent) values
  ('TotpEnrolled', 'platform', null),
  ('TotpDisabled', 'platform', null),
  ('StepUpVerified', 'platform', null),
  ('MfaVerificationFailed', 'platform', null),
  ('MfaLockedOut', 'platform', null),
  ('RecoveryCodeUsed', 'platform', null),
  ('MfaReset', 'platform', null),
  ('OrgSecuritySettingsChanged', 'platform', null);

revoke all on all functions in schema authz from public;
grant execute on function
  authz.mfa_begin_enrolment(text), authz.mfa_my_credential(), authz.mfa_credential_for_challenge(uuid),
  authz.mfa_consume_step(uuid, bigint), authz.mfa_confirm(bigint, bytea[], jsonb), authz.mfa_use_recovery_code(uuid, bytea),
  authz.mfa_step_up(bigint, jsonb), authz.mfa_disable(jsonb), authz.mfa_reset_member(uuid, uuid, jsonb),
  authz.record_mfa_event(uuid, jsonb), authz.set_org_security(uuid, boolean, jsonb), authz.has_active_totp(uuid),
  authz.my_email()
to bastion_app;
