-- The per-request work of RLS, made cheaper without changing what it proves (DESIGN §4; SECURITY.md, "The request's
-- database session"; measured by `npm run bench:rls`, docs/performance.md, "Re-measured after migration 0025").
--
-- Profiled (perf, pgbench, and a procedure that runs one request per transaction as the API does), a request under
-- RLS paid, beyond the same query without it:
--   * in the tasks policy, a current_setting() call on every row the index scan returns (about 1 µs a row, 50 rows a
--     request): the principal type the row test compares with the verified flag. It is read once per statement now,
--     as an InitPlan parameter, like every other value the policies read;
--   * in authz.begin, the executor start-up of its query (two correlated sub-plans, and the role's permission list,
--     an inlined CASE of four long strings, built into the projection on every call), a PERFORM of setval (a query of
--     its own) and a separate currval for the binding. Now: one plain three-way join on primary keys that returns the
--     role; the Provider Admin check is a second query that runs only when the org has a provider; the permission
--     list is a PL/pgSQL expression; the fresh request key is drawn inside the expression that computes the binding
--     (setval returns the value it set), so no separate query and no currval. The key still never sits in a variable.
--   * authz.begin returns nothing: no caller read the record it returned (built from its OUT parameters' types on
--     every call, and sent to the API).
--   * authz.request_binding now takes the key as an argument of authz.request_binding_under (one message format,
--     inlined into both callers): authz.begin passes the setval, the per-statement checks pass currval.
set local role bastion_authz;

create function authz.request_binding_under(p_key bigint, p_session text, p_principal text, p_type text, p_org text,
                                            p_permissions text)
returns text language sql volatile as $$
  select pg_catalog.encode(extensions.hmac(
           pg_catalog.convert_to(pg_catalog.concat_ws('|', p_session, p_principal, p_type, p_org, p_permissions), 'UTF8')
             operator(pg_catalog.||) pg_catalog.timestamptz_send(pg_catalog.transaction_timestamp()),
           pg_catalog.int8send(p_key),
           'sha256'), 'hex')
$$;

create or replace function authz.request_binding(p_session text, p_principal text, p_type text, p_org text, p_permissions text)
returns text language sql volatile as $$
  select authz.request_binding_under(pg_catalog.currval('authz.request_key'::pg_catalog.regclass),
                                     p_session, p_principal, p_type, p_org, p_permissions)
$$;

drop function authz.begin(uuid, bytea, uuid);
create function authz.begin(p_session uuid, p_proof bytea, p_org uuid default null) returns void
language plpgsql security definer set search_path = pg_catalog, pg_temp set plan_cache_mode = force_generic_plan as $$
declare
  r record;
  v_permissions text;
  v text;
begin
  -- The session, and for a human in an org: the org's MFA rule and provider, and the principal's member role there.
  select x.principal_type as ptype, x.principal_id as pid, x.org_id as porg, x.mfa_at as pmfa,
         x.revoked_at is null and x.idle_expires_at > now() and x.absolute_expires_at > now()
           and x.proof_hash = sha256(p_proof) as live,
         o.mfa_required, o.provider_id, m.role
    into r
    from authz.sessions x
    left join authz.organizations o on o.org_id = p_org and x.principal_type = 'human'
    -- The membership counts for a human only (o is joined for humans only).
    left join authz.memberships m on m.org_id = p_org and m.user_id = x.principal_id and o.org_id is not null
   where x.id = p_session;
  if not found or not r.live then
    raise exception 'session not live' using errcode = '28000';
  end if;
  -- The permissions held there: the member role's, and a Provider Admin's of the org's provider (null when neither).
  v_permissions := authz.role_permission_list(r.role);
  -- Nested, not one condition: an expression with EXISTS is a query (executor start-up on every call, measured at
  -- about 10 µs), where a plain test of the provider is not.
  if r.provider_id is not null then
    if exists (select 1 from authz.provider_admins pa where pa.provider_id = r.provider_id and pa.user_id = r.pid) then
      v_permissions := concat(v_permissions, authz.role_permission_list('provider_admin'));
    end if;
  end if;
  if p_org is not null then
    if r.ptype = 'agent' then
      if r.porg is distinct from p_org then
        raise exception 'not a member of this organisation' using errcode = 'BA004';
      end if;
    else
      if v_permissions is null then
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
  v_permissions := coalesce(v_permissions, '');
  -- One expression: the settings, and the binding under a fresh request key that setval draws and returns (as in
  -- begin_anonymous; the random value exists only inside this expression).
  v := set_config('bastion.session_id', p_session::text, true) || set_config('bastion.principal_id', r.pid::text, true)
       || set_config('bastion.principal_type', r.ptype, true) || set_config('bastion.org_id', coalesce(p_org::text, ''), true)
       || set_config('bastion.permissions', v_permissions, true)
       || set_config('bastion.binding',
                     authz.request_binding_under(
                       setval('authz.request_key', ('x' || encode(extensions.gen_random_bytes(8), 'hex'))::bit(64)::bigint),
                       p_session::text, r.pid::text, r.ptype, coalesce(p_org::text, ''), v_permissions), true);
end
$$;

revoke all on function authz.request_binding_under(bigint, text, text, text, text, text), authz.begin(uuid, bytea, uuid) from public;
grant execute on function authz.begin(uuid, bytea, uuid) to bastion_app;

reset role;
set local role bastion_owner;

-- As in migration 0019, but the row's reading of the principal type is an InitPlan parameter: read once per
-- statement, so a set_config during the statement no longer changes it between rows (the verified flag on the other
-- side never could).
alter policy tasks_read on tasks using (
  (org_id, case when (select current_setting('bastion.principal_type', true) = 'human') then true
                when assignee_type = 'agent' and assignee_id = (select authz.current_principal()) then false end)
  = (select coalesce(s.h, authz.current_agent_org()), s.h is not null
       from (select authz.current_org_if('task:view') as h offset 0) s));

reset role;
