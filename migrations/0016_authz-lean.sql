-- Fewer verifications per request (measured by `npm run bench:rls`: authz.begin cost more than the query, and the
-- transaction binding was recomputed 7 times per request). The checks are unchanged: every function that trusts
-- the request's principal or org still verifies the HMAC binding under the database's secret, but once per call
-- through authz.verified(), and authz.begin checks membership and the org's MFA rule on the session row directly.
set local role bastion_authz;

-- The verified request context, or nulls when nothing (or something forged) is bound to this transaction.
create function authz.verified(out session_id uuid, out principal_id uuid, out principal_type text, out org_id uuid)
language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_session text := nullif(current_setting('bastion.session_id', true), '');
  v_principal text := current_setting('bastion.principal_id', true);
  v_type text := current_setting('bastion.principal_type', true);
  v_org text := coalesce(current_setting('bastion.org_id', true), '');
begin
  if v_session is null or current_setting('bastion.binding', true) is distinct from encode(extensions.hmac(
       convert_to(concat_ws('|', v_session, v_principal, v_type, v_org, pg_current_xact_id()::text), 'UTF8'),
       (select value from authz.secrets where name = 'transaction-binding'), 'sha256'), 'hex') then
    return;
  end if;
  session_id := v_session::uuid;
  principal_id := nullif(v_principal, '')::uuid;
  principal_type := nullif(v_type, '');
  org_id := nullif(v_org, '')::uuid;
end
$$;

create or replace function authz.current_session() returns uuid
language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
begin
  return (authz.verified()).session_id;
end
$$;

create or replace function authz.current_principal() returns uuid
language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
begin
  return (authz.verified()).principal_id;
end
$$;

create or replace function authz.current_principal_type() returns text
language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
begin
  return (authz.verified()).principal_type;
end
$$;

create or replace function authz.current_org() returns uuid
language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
begin
  return (authz.verified()).org_id;
end
$$;

-- Does a human hold a permission in an org? (no verification: callers pass a verified principal)
create function authz.human_holds(p_user uuid, p_org uuid, p_permission text) returns boolean
language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
begin
  return exists (
      select 1 from authz.memberships m join authz.role_permissions rp on rp.role = m.role
       where m.org_id = p_org and m.user_id = p_user and rp.permission = p_permission)
    or exists (
      select 1 from authz.organizations o
        join authz.provider_admins pa on pa.provider_id = o.provider_id
        join authz.role_permissions rp on rp.role = 'provider_admin'
       where o.org_id = p_org and pa.user_id = p_user and rp.permission = p_permission);
end
$$;

create or replace function authz.has_permission(p_org uuid, p_permission text) returns boolean
language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
declare
  v record := authz.verified();
begin
  return v.principal_type = 'human' and authz.human_holds(v.principal_id, p_org, p_permission);
end
$$;

create or replace function authz.current_org_if(p_permission text) returns uuid
language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
declare
  v record := authz.verified();
begin
  if v.org_id is not null and v.principal_type = 'human' and authz.human_holds(v.principal_id, v.org_id, p_permission) then
    return v.org_id;
  end if;
  return null;
end
$$;

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
  if p_org is not null then
    if s.principal_type = 'agent' then
      if s.org_id is distinct from p_org then
        raise exception 'not a member of this organisation' using errcode = 'BA004';
      end if;
    else
      if not exists (select 1 from authz.memberships m where m.org_id = p_org and m.user_id = s.principal_id)
         and not exists (select 1 from authz.organizations o join authz.provider_admins pa on pa.provider_id = o.provider_id
                          where o.org_id = p_org and pa.user_id = s.principal_id) then
        raise exception 'not a member of this organisation' using errcode = 'BA004';
      end if;
      if exists (select 1 from authz.organizations o where o.org_id = p_org and o.mfa_required) then
        if not authz.has_active_totp(s.principal_id) then
          raise exception 'this organisation requires MFA: enrol first' using errcode = 'BA003';
        end if;
        if s.mfa_at is null then
          raise exception 'this organisation requires an MFA-verified session' using errcode = 'BA001';
        end if;
      end if;
    end if;
  end if;
  perform set_config('bastion.session_id', s.id::text, true);
  perform set_config('bastion.principal_id', s.principal_id::text, true);
  perform set_config('bastion.principal_type', s.principal_type, true);
  perform set_config('bastion.org_id', coalesce(p_org::text, ''), true);
  perform set_config('bastion.binding', authz.binding(s.id::text, s.principal_id::text, s.principal_type, coalesce(p_org::text, '')), true);
  return query select s.principal_type, s.principal_id, s.org_id, s.mfa_at;
end
$$;

revoke all on all functions in schema authz from public;
grant execute on function authz.verified() to bastion_app, bastion_projector, bastion_worker, bastion_sealer;
