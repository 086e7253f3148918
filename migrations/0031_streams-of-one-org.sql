-- A stream belongs to one organisation, and its revisions have no gaps (review of 2026-11-26). The app role's
-- insert policy checks the org an event names, but not the stream it goes into: SQL in a request of org A could
-- insert, with org A, into org V's stream (`mr-<V's merge request>`). V's API never sees such a row (RLS), but the
-- merge saga and the test-run worker read the whole stream as their own roles and folded it as V's: forged
-- approvals merged V's merge request into V's main, a forged head at revision 10^15 blocked it for good, and
-- forged test requests ran V's CI at a commit of the attacker's choosing. Now a trigger (ENABLE ALWAYS) refuses an
-- event the API's login inserts, directly or through a definer function, whose org differs from the stream's last
-- event's, or whose revision skips ahead; a revision already taken still fails on the unique index as before (the
-- store's 409).
-- Also, for what the app role inserts: the data must be an object and occurredAt a timestamp (JSON null data
-- stopped the merge reactor and several projections for everyone), and a MergeRequestApproved must name its actor
-- as the approver (one member could otherwise append N approvals by invented approvers). sign_up and revoke_session
-- set the ids their events' readers key on (a UserSignedUp could name another user and rewrite their profile in
-- every org's member list; a SessionRevoked could name another user's session and close its live socket).
-- The attacks are tests: test/e2e/app-role-functions.e2e.spec.ts.
set local role bastion_authz;

create function authz.events_stream_integrity() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_last record;
begin
  -- Only the API's login carries SQL from a request. The worker's, the projector's and the sealer's appends are the
  -- system's own, like the migration login's: they skip the lookup, which costs a plain insert about a quarter of
  -- its rate (pgbench, c=8). session_user is the login, which no SET ROLE changes.
  if session_user <> 'bastion_app' then
    return new;
  end if;
  select e.revision, e.org_id into v_last
    from public.events e where e.stream_id = new.stream_id order by e.revision desc limit 1;
  if not found then
    if new.revision <> 0 then
      raise exception 'refused: a new stream starts at revision 0' using errcode = '42501';
    end if;
    return new;
  end if;
  if new.org_id is distinct from v_last.org_id then
    raise exception 'refused: stream % belongs to another organisation', new.stream_id using errcode = '42501';
  end if;
  if new.revision > v_last.revision + 1 then
    raise exception 'refused: revision % of stream % skips ahead of %', new.revision, new.stream_id, v_last.revision
      using errcode = '42501';
  end if;
  return new;
end
$$;
revoke all on function authz.events_stream_integrity() from public;
grant execute on function authz.events_stream_integrity() to bastion_owner;

create or replace function authz.sign_up(p_user uuid, p_email text, p_email_normalized text, p_display_name text,
                                         p_password_hash text, p_token_hash bytea, p_token_expires timestamptz,
                                         p_event jsonb)
returns boolean language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  perform authz.expect_event(p_event, 'UserSignedUp', 'human', p_user::text);
  insert into authz.users (id, email, email_normalized, display_name, password_hash, created_at)
  values (p_user, p_email, p_email_normalized, p_display_name, p_password_hash, now())
  on conflict (email_normalized) do nothing;
  if not found then
    return false;
  end if;
  insert into authz.email_tokens (token_hash, user_id, purpose, expires_at) values (p_token_hash, p_user, 'verify_email', p_token_expires);
  -- The user the projection writes the profile of (email and name stay the caller's sealed tokens: sealed for this
  -- user, so no other user's profile can be written with them).
  p_event := jsonb_set(p_event, '{data,userId}', to_jsonb(p_user::text));
  perform authz.append_event('user-' || p_user, p_event, -1);
  return true;
end
$$;

-- As migration 0006's, with the revoked session's id in the event set from the argument.
create or replace function authz.revoke_session(p_session uuid, p_reason text, p_event jsonb) returns boolean
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  s authz.sessions;
begin
  if coalesce(p_event ->> 'type', '') not in ('SessionRevoked', 'RefreshTokenReuseDetected') then
    raise exception 'refused: not a revocation event' using errcode = '42501';
  end if;
  update authz.sessions set revoked_at = now(), revoked_reason = p_reason
   where id = p_session and revoked_at is null
  returning * into s;
  if not found then
    return false;
  end if;
  p_event := jsonb_set(p_event, '{data,sessionId}', to_jsonb(p_session::text));
  perform authz.append_event((case s.principal_type when 'human' then 'user-' else 'agent-' end) || s.principal_id,
    jsonb_set(p_event, '{metadata,actor}', case when p_event ->> 'type' = 'RefreshTokenReuseDetected'
      then jsonb_build_object('type', 'system', 'id', 'bastion')
      else jsonb_build_object('type', s.principal_type, 'id', s.principal_id::text) end));
  return true;
end
$$;

reset role;
set local role bastion_owner;

create trigger events_stream_integrity before insert on events
  for each row execute function authz.events_stream_integrity();
alter table events enable always trigger events_stream_integrity;

alter policy events_app_append on events
  with check (
    org_id = (select authz.current_org())
    and (metadata ->> 'orgId')::uuid = org_id
    and jsonb_typeof(data) = 'object'
    and (not data ? 'orgId' or (data ->> 'orgId')::uuid = org_id)
    and (metadata ->> 'occurredAt')::timestamptz is not null
    and metadata -> 'actor' ->> 'id' = (select authz.current_principal())::text
    and metadata -> 'actor' ->> 'type' = (select authz.current_principal_type())
    and (type <> 'MergeRequestApproved' or data ->> 'approverId' = metadata -> 'actor' ->> 'id')
    and authz.may_append(type));

reset role;
