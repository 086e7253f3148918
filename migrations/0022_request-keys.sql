-- A request's principal is bound to its transaction by a key that lives in the backend for one request, and the
-- principal's permissions in the org are proven once, by authz.begin (DESIGN §4 as amended; SECURITY.md, "The
-- request's database session"; measured by `npm run bench:rls`, docs/performance.md).
--
-- Until now the binding was HMAC(database secret, session|principal|type|org|transaction id): every statement's
-- policy read the secret from authz.secrets and the membership from authz.memberships (one SPI query per statement),
-- and every read-only request was given a transaction id (XactLockTableInsert, a commit record, a clog update, and at
-- concurrency a snapshot every other backend had to rebuild). Now:
--
--   * authz.begin draws a fresh 64-bit random key and keeps it as the currval of an UNLOGGED sequence owned by
--     bastion_authz. A sequence's currval is private to its backend, and bastion_app has no privilege on this one, so
--     it can neither read the key (currval, pg_sequence_last_value and pg_sequences all need SELECT or USAGE) nor set
--     it (setval needs UPDATE). Unlogged: setval writes no WAL and assigns no transaction id. The key lives for one
--     request: a binding it made is useless once the next transaction on the connection has replaced it, so
--     recovering the key from a binding offline gains nothing.
--   * The binding is HMAC(request key, session|principal|type|org|permissions|transaction start in µs). Every
--     transaction the API opens first replaces the key: authz.begin for a principal, authz.begin_anonymous for
--     the pre-authentication routes. A binding captured by injected SQL in one request is therefore dead from the
--     next transaction on that connection onwards, on any other connection it never held, and in a transaction
--     injected SQL opens itself inside the same request (another start time). That is the guarantee the transaction id
--     gave: SQL can act only as the principal whose request it rides in.
--   * authz.begin reads the principal's permissions in the org (its member role's, and a Provider Admin's) in the
--     same query as the session, and binds them. current_org_if checks the permission against that bound set with no
--     query at all: a role change or a removal takes effect at the principal's next request, not within one already
--     running. Commands (authz.has_permission, the definer functions that write) still read the membership when they
--     run.
--   * The key is never held in a PL/pgSQL variable or passed as a parameter: it exists only while an expression that
--     calls currval is evaluated, so no plan (`debug_print_plan` is settable by any role) can show it.
set local role bastion_authz;

create unlogged sequence authz.request_key as bigint minvalue -9223372036854775808 maxvalue 9223372036854775807 no cycle;
revoke all on sequence authz.request_key from public;

-- The binding of a request's settings under this backend's request key. Internal, and SECURITY INVOKER on purpose:
-- called only from the definer functions below (as bastion_authz, which may read the sequences), it is inlined
-- into their expressions. Called by anyone else, currval is refused.
create function authz.request_binding(p_session text, p_principal text, p_type text, p_org text, p_permissions text)
returns text language sql volatile as $$
  select pg_catalog.encode(extensions.hmac(
           pg_catalog.convert_to(pg_catalog.concat_ws('|', p_session, p_principal, p_type, p_org, p_permissions), 'UTF8')
             operator(pg_catalog.||) pg_catalog.timestamptz_send(pg_catalog.transaction_timestamp()),
           pg_catalog.int8send(pg_catalog.currval('authz.request_key'::pg_catalog.regclass)),
           'sha256'), 'hex')
$$;

-- Each role's permissions as one string, ',a,b,…,': what authz.begin binds. An IMMUTABLE SQL function over a CASE
-- (inlined where it is called: no table read per request), generated from authz.role_permissions and generated
-- again by a trigger whenever a migration changes the matrix, so the two cannot drift.
create function authz.write_role_permission_list() returns void
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  execute format(
    'create or replace function authz.role_permission_list(p_role text) returns text language sql immutable as %L',
    'select case p_role ' || coalesce((select string_agg(format('when %L then %L', role, list), ' ' order by role)
                                         from (select role, ',' || string_agg(permission, ',' order by permission) || ',' as list
                                                 from authz.role_permissions group by role) r), 'when null then null') || ' end');
end
$$;
create function authz.role_permissions_changed() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  perform authz.write_role_permission_list();
  return null;
end
$$;
create trigger role_permission_list after insert or update or delete or truncate on authz.role_permissions
  for each statement execute function authz.role_permissions_changed();
select authz.write_role_permission_list();

-- The first statement of a transaction that acts for no one (sign-up, sign-in, email links): a fresh request key,
-- so no binding made earlier on this connection verifies in it. The random values are never held in a variable.
create function authz.begin_anonymous() returns void
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
begin
  perform setval('authz.request_key', ('x' || encode(extensions.gen_random_bytes(8), 'hex'))::bit(64)::bigint);
end
$$;

drop function authz.begin(uuid, bytea, uuid);
create function authz.begin(p_session uuid, p_proof bytea, p_org uuid default null,
                            out principal_type text, out principal_id uuid, out org_id uuid, out mfa_at timestamptz)
language plpgsql security definer set search_path = pg_catalog, pg_temp set plan_cache_mode = force_generic_plan as $$
declare
  r record;
  v text;
begin
  -- One query: the session, the org's MFA rule, and the permissions the principal holds there as a member and as a
  -- Provider Admin of the org's provider (each null when it is not one).
  select x.principal_type as ptype, x.principal_id as pid, x.org_id as porg, x.mfa_at as pmfa,
         x.revoked_at is null and x.idle_expires_at > now() and x.absolute_expires_at > now()
           and x.proof_hash = sha256(p_proof) as live,
         coalesce(o.mfa_required, false) as mfa_required,
         authz.role_permission_list((select m.role from authz.memberships m
                                      where m.org_id = o.org_id and m.user_id = x.principal_id)) as member_permissions,
         case when o.provider_id is not null
                   and exists (select 1 from authz.provider_admins pa
                                where pa.provider_id = o.provider_id and pa.user_id = x.principal_id)
              then authz.role_permission_list('provider_admin') end as provider_permissions
    into r
    from authz.sessions x
    left join authz.organizations o on o.org_id = p_org and x.principal_type = 'human'
   where x.id = p_session;
  if not found or not r.live then
    raise exception 'session not live' using errcode = '28000';
  end if;
  if p_org is not null then
    if r.ptype = 'agent' then
      if r.porg is distinct from p_org then
        raise exception 'not a member of this organisation' using errcode = 'BA004';
      end if;
    else
      if r.member_permissions is null and r.provider_permissions is null then
        raise exception 'not a member of this organisation' using errcode = 'BA004';
      end if;
      if r.mfa_required then
        if not authz.has_active_totp(r.pid) then
          raise exception 'this organisation requires MFA: enrol first' using errcode = 'BA003';
        end if;
        if r.pmfa is null then
          raise exception 'this organisation requires an MFA-verified session' using errcode = 'BA001';
        end if;
      end if;
    end if;
  end if;
  -- A fresh request key (as in begin_anonymous, written out: one definer call less per request).
  perform setval('authz.request_key', ('x' || encode(extensions.gen_random_bytes(8), 'hex'))::bit(64)::bigint);
  v := set_config('bastion.session_id', p_session::text, true) || set_config('bastion.principal_id', r.pid::text, true)
       || set_config('bastion.principal_type', r.ptype, true) || set_config('bastion.org_id', coalesce(p_org::text, ''), true)
       || set_config('bastion.permissions', concat(r.member_permissions, r.provider_permissions), true)
       || set_config('bastion.binding', authz.request_binding(p_session::text, r.pid::text, r.ptype, coalesce(p_org::text, ''),
                                                              concat(r.member_permissions, r.provider_permissions)), true);
  principal_type := r.ptype;
  principal_id := r.pid;
  org_id := r.porg;
  mfa_at := r.pmfa;
end
$$;

-- The verified request context, or nulls when nothing (or something forged) is bound to this transaction. Nothing
-- is computed (and currval is not called) unless a binding is present: the worker's transactions never have one.
create or replace function authz.verified(out session_id uuid, out principal_id uuid, out principal_type text, out org_id uuid)
language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_session text := current_setting('bastion.session_id', true);
  v_principal text := current_setting('bastion.principal_id', true);
  v_type text := current_setting('bastion.principal_type', true);
  v_org text := coalesce(current_setting('bastion.org_id', true), '');
  v_binding text := current_setting('bastion.binding', true);
begin
  if v_session is null or v_session = '' or v_binding is null or v_binding = ''
     or v_binding is distinct from authz.request_binding(v_session, v_principal, v_type, v_org,
                                                          coalesce(current_setting('bastion.permissions', true), '')) then
    return;
  end if;
  session_id := v_session::uuid;
  principal_id := nullif(v_principal, '')::uuid;
  principal_type := nullif(v_type, '');
  org_id := nullif(v_org, '')::uuid;
end
$$;

-- The request's org when the verified human holds the permission there (as proven by authz.begin), else NULL.
-- No query: the permission is looked up in the bound set, then the binding is verified.
create or replace function authz.current_org_if(p_permission text) returns uuid
language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_org text := current_setting('bastion.org_id', true);
  v_permissions text := current_setting('bastion.permissions', true);
  v_binding text := current_setting('bastion.binding', true);
begin
  if v_org is null or v_org = '' or v_binding is null or v_binding = ''
     or current_setting('bastion.principal_type', true) is distinct from 'human'
     or coalesce(strpos(v_permissions, ',' || p_permission || ','), 0) = 0 then
    return null;
  end if;
  if v_binding = authz.request_binding(current_setting('bastion.session_id', true), current_setting('bastion.principal_id', true),
                                       'human', v_org, v_permissions) then
    return v_org::uuid;
  end if;
  return null;
end
$$;

create or replace function authz.current_principal_type() returns text
language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
begin
  return (authz.verified()).principal_type;
end
$$;

-- The transaction-id binding's helper and the table that held its secret have no caller left.
drop function authz.binding(text, text, text, text);
drop table authz.secrets;

revoke all on function authz.request_binding(text, text, text, text, text), authz.write_role_permission_list(), authz.role_permissions_changed(),
  authz.role_permission_list(text),
  authz.begin_anonymous(), authz.begin(uuid, bytea, uuid) from public;
grant execute on function authz.begin(uuid, bytea, uuid), authz.begin_anonymous() to bastion_app;

reset role;
