-- Identity (DESIGN §5): users, single-use email tokens, agents and their keys, and the definer functions through
-- which the API signs people up, starts, rotates and revokes sessions, and creates organisations. Credentials live
-- here, in mutable rows; events record only the facts (no hash, no token, no key ever enters the event store).
set local role bastion_authz;

create table authz.users (
  id                  uuid primary key,
  email               text        not null,
  email_normalized    text        not null unique,
  display_name        text        not null,
  password_hash       text,
  email_verified_at   timestamptz,
  password_changed_at timestamptz,
  created_at          timestamptz not null,
  disabled_at         timestamptz
);

create table authz.email_tokens (
  token_hash bytea primary key,
  user_id    uuid        not null references authz.users (id),
  purpose    text        not null check (purpose in ('verify_email', 'reset_password')),
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  used_at    timestamptz
);

create table authz.agents (
  id          uuid primary key,
  org_id      uuid        not null,
  name        text        not null,
  created_by  uuid        not null,
  created_at  timestamptz not null default now(),
  disabled_at timestamptz
);
create index agents_org on authz.agents (org_id);

create table authz.agent_keys (
  id         uuid primary key,
  agent_id   uuid        not null references authz.agents (id),
  -- The public, recognisable part of the key (`bst_ak_<prefix>_…`): how a leaked key is found and revoked.
  prefix     text        not null unique,
  key_hash   bytea       not null,
  created_by uuid        not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  revoked_at timestamptz
);

-- Sign-up: the user row, the verification token's hash and `UserSignedUp`, together or not at all.
create function authz.sign_up(p_user uuid, p_email text, p_email_normalized text, p_display_name text,
                              p_password_hash text, p_token_hash bytea, p_token_expires timestamptz, p_event jsonb)
returns boolean
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  perform authz.expect_event(p_event, 'UserSignedUp', 'human', p_user::text);
  insert into authz.users (id, email, email_normalized, display_name, password_hash, created_at)
  values (p_user, p_email, p_email_normalized, p_display_name, p_password_hash, now())
  on conflict (email_normalized) do nothing;
  if not found then
    return false;
  end if;
  insert into authz.email_tokens (token_hash, user_id, purpose, expires_at) values (p_token_hash, p_user, 'verify_email', p_token_expires);
  perform authz.append_event('user-' || p_user, p_event, -1);
  return true;
end
$$;

-- Consumes a single-use email token; the event's actor and subject are the token's user, filled in here.
create function authz.consume_email_token(p_token_hash bytea, p_purpose text, p_event jsonb) returns uuid
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_user uuid;
begin
  update authz.email_tokens set used_at = now()
   where token_hash = p_token_hash and purpose = p_purpose and used_at is null and expires_at > now()
  returning user_id into v_user;
  if v_user is null then
    return null;
  end if;
  p_event := jsonb_set(jsonb_set(p_event, '{data,userId}', to_jsonb(v_user::text)), '{metadata,actor}',
                       jsonb_build_object('type', 'human', 'id', v_user::text));
  perform authz.append_event('user-' || v_user, p_event);
  return v_user;
end
$$;

create function authz.verify_email(p_token_hash bytea, p_event jsonb) returns uuid
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_user uuid;
begin
  perform authz.expect_event(p_event, 'EmailVerified', 'human', null);
  v_user := authz.consume_email_token(p_token_hash, 'verify_email', p_event);
  if v_user is not null then
    update authz.users set email_verified_at = coalesce(email_verified_at, now()) where id = v_user;
  end if;
  return v_user;
end
$$;

-- A reset link for a known, enabled account; for an unknown email nothing happens (and the caller says the same).
create function authz.request_password_reset(p_email_normalized text, p_token_hash bytea, p_expires timestamptz, p_event jsonb)
returns table (user_id uuid, email text, display_name text)
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  u authz.users;
begin
  perform authz.expect_event(p_event, 'PasswordResetRequested', 'human', null);
  select * into u from authz.users where email_normalized = p_email_normalized and disabled_at is null;
  if not found then
    return;
  end if;
  insert into authz.email_tokens (token_hash, user_id, purpose, expires_at) values (p_token_hash, u.id, 'reset_password', p_expires);
  perform authz.append_event('user-' || u.id,
    jsonb_set(jsonb_set(p_event, '{data,userId}', to_jsonb(u.id::text)), '{metadata,actor}', jsonb_build_object('type', 'human', 'id', u.id::text)));
  return query select u.id, u.email, u.display_name;
end
$$;

-- Sets the new password and revokes every session of the account.
create function authz.reset_password(p_token_hash bytea, p_password_hash text, p_event jsonb) returns uuid
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_user uuid;
  v_revoked integer;
begin
  perform authz.expect_event(p_event, 'PasswordReset', 'human', null);
  update authz.sessions set revoked_at = now(), revoked_reason = 'password_reset'
   where principal_type = 'human' and principal_id = (
     select t.user_id from authz.email_tokens t
      where t.token_hash = p_token_hash and t.purpose = 'reset_password' and t.used_at is null and t.expires_at > now())
     and revoked_at is null;
  get diagnostics v_revoked = row_count;
  v_user := authz.consume_email_token(p_token_hash, 'reset_password',
              jsonb_set(p_event, '{data,revokedSessions}', to_jsonb(v_revoked)));
  if v_user is null then
    return null;
  end if;
  update authz.users set password_hash = p_password_hash, password_changed_at = now() where id = v_user;
  return v_user;
end
$$;

-- Pre-authentication lookup: only what the password check needs.
create function authz.sign_in_lookup(p_email_normalized text)
returns table (user_id uuid, password_hash text, email_verified boolean, disabled boolean)
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select id, password_hash, email_verified_at is not null, disabled_at is not null
    from authz.users where email_normalized = p_email_normalized
$$;

-- Re-hash with current parameters, only over the exact hash just verified (compare-and-set).
create function authz.rehash_password(p_user uuid, p_old_hash text, p_new_hash text) returns boolean
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  update authz.users set password_hash = p_new_hash where id = p_user and password_hash = p_old_hash;
  return found;
end
$$;

-- A failed sign-in: on the account's stream when it exists, else on a stream of its own (no account to attach to).
create function authz.record_sign_in_failure(p_user uuid, p_event jsonb) returns void
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  if p_event ->> 'type' not in ('SignInFailed', 'SignInThrottled') or p_event -> 'metadata' ->> 'orgId' is not null then
    raise exception 'refused: not a sign-in failure' using errcode = '42501';
  end if;
  if p_user is not null and exists (select 1 from authz.users where id = p_user) then
    perform authz.append_event('user-' || p_user, p_event);
  else
    perform authz.append_event('signin-' || (p_event ->> 'id'), p_event, -1);
  end if;
end
$$;

create function authz.start_session(p_session uuid, p_principal_type text, p_principal uuid, p_org uuid, p_amr text[],
                                    p_proof_hash bytea, p_idle_expires timestamptz, p_absolute_expires timestamptz,
                                    p_ip text, p_user_agent text, p_event jsonb) returns void
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  perform authz.expect_event(p_event, 'SessionStarted', p_principal_type, p_principal::text);
  if p_principal_type = 'human' then
    if not exists (select 1 from authz.users where id = p_principal and disabled_at is null) then
      raise exception 'refused: unknown or disabled user' using errcode = '42501';
    end if;
  elsif not exists (select 1 from authz.agents where id = p_principal and org_id = p_org and disabled_at is null) then
    raise exception 'refused: unknown or disabled agent' using errcode = '42501';
  end if;
  insert into authz.sessions (id, principal_type, principal_id, org_id, rotated_at, amr, mfa_at, proof_hash, created_at,
                              idle_expires_at, absolute_expires_at, ip, user_agent)
  values (p_session, p_principal_type, p_principal, p_org, now(), p_amr,
          case when 'otp' = any (p_amr) then now() end, p_proof_hash, now(), p_idle_expires, p_absolute_expires,
          p_ip, p_user_agent);
  perform authz.append_event((case p_principal_type when 'human' then 'user-' else 'agent-' end) || p_principal, p_event);
end
$$;

-- What a refresh decision needs about a session (the decision itself is pure TypeScript in libs/domain).
create function authz.refresh_state(p_session uuid)
returns table (principal_type text, principal_id uuid, counter bigint, grace_until timestamptz, revoked boolean,
               idle_expires_at timestamptz, absolute_expires_at timestamptz, amr text[])
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select principal_type, principal_id, counter, grace_until, revoked_at is not null, idle_expires_at,
         absolute_expires_at, amr
    from authz.sessions where id = p_session and principal_type = 'human'
$$;

-- Rotation is a compare-and-set on the counter: of two concurrent rotations of one token, one moves it.
create function authz.rotate_session(p_session uuid, p_expected_counter bigint, p_grace_until timestamptz,
                                     p_idle_expires timestamptz) returns boolean
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  update authz.sessions
     set counter = counter + 1, rotated_at = now(), grace_until = p_grace_until,
         idle_expires_at = least(p_idle_expires, absolute_expires_at)
   where id = p_session and counter = p_expected_counter and revoked_at is null;
  return found;
end
$$;

-- Revokes a session and records why (reuse detected, logout, removal…), once.
create function authz.revoke_session(p_session uuid, p_reason text, p_event jsonb) returns boolean
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  s authz.sessions;
begin
  if p_event ->> 'type' not in ('SessionRevoked', 'RefreshTokenReuseDetected') then
    raise exception 'refused: not a revocation event' using errcode = '42501';
  end if;
  update authz.sessions set revoked_at = now(), revoked_reason = p_reason
   where id = p_session and revoked_at is null
  returning * into s;
  if not found then
    return false;
  end if;
  perform authz.append_event((case s.principal_type when 'human' then 'user-' else 'agent-' end) || s.principal_id,
    jsonb_set(p_event, '{metadata,actor}', case when p_event ->> 'type' = 'RefreshTokenReuseDetected'
      then jsonb_build_object('type', 'system', 'id', 'bastion')
      else jsonb_build_object('type', s.principal_type, 'id', s.principal_id::text) end));
  return true;
end
$$;

-- The proven principal's own sessions (after authz.begin).
create function authz.my_sessions()
returns table (id uuid, created_at timestamptz, rotated_at timestamptz, amr text[], ip text, user_agent text,
               current boolean)
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select s.id, s.created_at, s.rotated_at, s.amr, s.ip, s.user_agent, s.id = authz.current_session()
    from authz.sessions s
   where s.principal_id = authz.current_principal() and s.principal_type = 'human'
     and s.revoked_at is null and s.idle_expires_at > now() and s.absolute_expires_at > now()
   order by s.created_at desc
$$;

-- Revokes one of the proven principal's own sessions; another's is "not found".
create function authz.revoke_my_session(p_session uuid, p_event jsonb) returns boolean
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  if not exists (select 1 from authz.sessions where id = p_session and principal_id = authz.current_principal()) then
    return false;
  end if;
  return authz.revoke_session(p_session, coalesce(p_event -> 'data' ->> 'reason', 'revoked'), p_event);
end
$$;

-- A signed-in human creates an organisation and becomes its Admin, effective at once.
create function authz.create_organization(p_org uuid, p_events jsonb) returns void
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
     or p_events -> 1 -> 'data' ->> 'role' <> 'admin' or (p_events -> 0 -> 'data' ->> 'orgId')::uuid <> p_org then
    raise exception 'refused: malformed organisation creation' using errcode = '42501';
  end if;
  insert into authz.memberships (org_id, user_id, role) values (p_org, v_user, 'admin');
  perform authz.append_event('org-' || p_org, p_events -> 0, -1);
  perform authz.append_event('org-' || p_org, p_events -> 1, 0);
end
$$;

create function authz.create_agent(p_org uuid, p_agent uuid, p_name text, p_event jsonb) returns void
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  if not authz.has_permission(p_org, 'agent:create') then
    raise exception 'refused: agent:create' using errcode = '42501';
  end if;
  perform authz.expect_event(p_event, 'AgentCreated', 'human', authz.current_principal()::text);
  insert into authz.agents (id, org_id, name, created_by) values (p_agent, p_org, p_name, authz.current_principal());
  perform authz.append_event('agent-' || p_agent, p_event, -1);
end
$$;

create function authz.issue_agent_key(p_org uuid, p_agent uuid, p_key uuid, p_prefix text, p_key_hash bytea,
                                      p_expires timestamptz, p_event jsonb) returns boolean
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  if not authz.has_permission(p_org, 'agent:credentials') then
    raise exception 'refused: agent:credentials' using errcode = '42501';
  end if;
  if not exists (select 1 from authz.agents where id = p_agent and org_id = p_org and disabled_at is null) then
    return false;
  end if;
  perform authz.expect_event(p_event, 'AgentKeyIssued', 'human', authz.current_principal()::text);
  insert into authz.agent_keys (id, agent_id, prefix, key_hash, created_by, expires_at)
  values (p_key, p_agent, p_prefix, p_key_hash, authz.current_principal(), p_expires);
  perform authz.append_event('agent-' || p_agent, p_event);
  return true;
end
$$;

create function authz.revoke_agent_key(p_org uuid, p_agent uuid, p_key uuid, p_event jsonb) returns boolean
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  if not authz.has_permission(p_org, 'agent:credentials') then
    raise exception 'refused: agent:credentials' using errcode = '42501';
  end if;
  perform authz.expect_event(p_event, 'AgentKeyRevoked', 'human', authz.current_principal()::text);
  update authz.agent_keys k set revoked_at = now()
    from authz.agents a
   where k.id = p_key and k.agent_id = p_agent and a.id = k.agent_id and a.org_id = p_org and k.revoked_at is null;
  if not found then
    return false;
  end if;
  -- Tokens already exchanged with the key stop at their next request.
  update authz.sessions set revoked_at = now(), revoked_reason = 'key_revoked'
   where principal_type = 'agent' and principal_id = p_agent and revoked_at is null;
  perform authz.append_event('agent-' || p_agent, p_event);
  return true;
end
$$;

-- Pre-authentication lookup of an agent key by its public prefix.
create function authz.agent_key_lookup(p_prefix text)
returns table (key_id uuid, agent_id uuid, org_id uuid, key_hash bytea, usable boolean)
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select k.id, a.id, a.org_id, k.key_hash,
         k.revoked_at is null and k.expires_at > now() and a.disabled_at is null
    from authz.agent_keys k join authz.agents a on a.id = k.agent_id
   where k.prefix = p_prefix
$$;

revoke all on all functions in schema authz from public;
grant execute on function
  authz.begin(uuid, bytea, uuid), authz.current_principal(), authz.current_principal_type(), authz.current_session(),
  authz.has_permission(uuid, text),
  authz.sign_up(uuid, text, text, text, text, bytea, timestamptz, jsonb),
  authz.verify_email(bytea, jsonb), authz.request_password_reset(text, bytea, timestamptz, jsonb),
  authz.reset_password(bytea, text, jsonb), authz.sign_in_lookup(text), authz.rehash_password(uuid, text, text),
  authz.record_sign_in_failure(uuid, jsonb),
  authz.start_session(uuid, text, uuid, uuid, text[], bytea, timestamptz, timestamptz, text, text, jsonb),
  authz.refresh_state(uuid), authz.rotate_session(uuid, bigint, timestamptz, timestamptz),
  authz.revoke_session(uuid, text, jsonb), authz.my_sessions(), authz.revoke_my_session(uuid, jsonb),
  authz.create_organization(uuid, jsonb), authz.create_agent(uuid, uuid, text, jsonb),
  authz.issue_agent_key(uuid, uuid, uuid, text, bytea, timestamptz, jsonb),
  authz.revoke_agent_key(uuid, uuid, uuid, jsonb), authz.agent_key_lookup(text)
to bastion_app;
