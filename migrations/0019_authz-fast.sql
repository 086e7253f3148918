-- Less work per request for the same checks (measured by `npm run bench:rls`, docs/performance.md, "Re-measured after
-- migration 0020"). Per request, PL/pgSQL's SPI executor (one executor start, run and end per query, and per node)
-- cost more than the lookups themselves: authz.begin ran five queries and a nested function, and the tasks policy
-- called two verifying functions per statement. Now:
--   * authz.begin runs one query (the session, the key, membership and the org's MFA rule) and returns one row
--     instead of a set; the Provider Admin lookup runs only when the principal is not a member;
--   * current_org_if and current_principal_type verify the binding in the same query that reads the key (and, for
--     current_org_if, the membership); the key is never held in a PL/pgSQL variable, so it can never appear as a
--     constant in a plan (`debug_print_plan` is settable by any role);
--   * the tasks policy evaluates one verified function for a human (see below) instead of two.
-- The binding (HMAC over session|principal|type|org|transaction id under the database's secret) is unchanged.
set local role bastion_authz;

-- Is the user a Provider Admin of the org's provider (holding the permission, when one is given)? Internal.
create function authz.provider_admin_holds(p_user uuid, p_org uuid, p_permission text) returns boolean
language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
begin
  return exists (
    select 1 from authz.organizations o
      join authz.provider_admins pa on pa.provider_id = o.provider_id
     where o.org_id = p_org and pa.user_id = p_user
       and (p_permission is null
            or exists (select 1 from authz.role_permissions rp where rp.role = 'provider_admin' and rp.permission = p_permission)));
end
$$;

-- One row instead of a set: `select authz.begin(…)` is evaluated as a plain function call.
drop function authz.begin(uuid, bytea, uuid);
create function authz.begin(p_session uuid, p_proof bytea, p_org uuid default null,
                            out principal_type text, out principal_id uuid, out org_id uuid, out mfa_at timestamptz)
language plpgsql security definer set search_path = pg_catalog, pg_temp set plan_cache_mode = force_generic_plan as $$
declare
  r record;
  v text;
begin
  select x.principal_type as ptype, x.principal_id as pid, x.org_id as porg, x.mfa_at as pmfa,
         x.revoked_at is null and x.idle_expires_at > now() and x.absolute_expires_at > now()
           and x.proof_hash = sha256(p_proof) as live,
         x.principal_type = 'human' and p_org is not null
           and exists (select 1 from authz.memberships m where m.org_id = p_org and m.user_id = x.principal_id) as member,
         x.principal_type = 'human' and p_org is not null
           and coalesce((select o.mfa_required from authz.organizations o where o.org_id = p_org), false) as mfa_required,
         encode(extensions.hmac(convert_to(concat_ws('|', x.id::text, x.principal_id::text, x.principal_type,
           coalesce(p_org::text, ''), pg_current_xact_id()::text), 'UTF8'), k.value, 'sha256'), 'hex') as binding
    into r
    from authz.sessions x, authz.secrets k
   where x.id = p_session and k.name = 'transaction-binding';
  if not found or not r.live then
    raise exception 'session not live' using errcode = '28000';
  end if;
  if p_org is not null then
    if r.ptype = 'agent' then
      if r.porg is distinct from p_org then
        raise exception 'not a member of this organisation' using errcode = 'BA004';
      end if;
    else
      if not r.member and not authz.provider_admin_holds(r.pid, p_org, null) then
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
  v := set_config('bastion.session_id', p_session::text, true) || set_config('bastion.principal_id', r.pid::text, true)
       || set_config('bastion.principal_type', r.ptype, true) || set_config('bastion.org_id', coalesce(p_org::text, ''), true)
       || set_config('bastion.binding', r.binding, true);
  principal_type := r.ptype;
  principal_id := r.pid;
  org_id := r.porg;
  mfa_at := r.pmfa;
end
$$;

-- The request's org when the verified human holds the permission there, else NULL. One query: the key, the binding
-- check and the membership; casts happen only after the binding matched (generic plans: no constant folding).
create or replace function authz.current_org_if(p_permission text) returns uuid
language plpgsql stable security definer set search_path = pg_catalog, pg_temp set plan_cache_mode = force_generic_plan as $$
declare
  v_session text := current_setting('bastion.session_id', true);
  v_principal text := current_setting('bastion.principal_id', true);
  v_type text := current_setting('bastion.principal_type', true);
  v_org text := current_setting('bastion.org_id', true);
  v_holds boolean;
begin
  if v_type is distinct from 'human' or v_org is null or v_org = '' or v_session is null or v_session = '' then
    return null;
  end if;
  select case when current_setting('bastion.binding', true) = encode(extensions.hmac(convert_to(concat_ws('|', v_session,
                     v_principal, v_type, v_org, pg_current_xact_id()::text), 'UTF8'), k.value, 'sha256'), 'hex')
              then exists (select 1 from authz.memberships m join authz.role_permissions rp on rp.role = m.role
                            where m.org_id = v_org::uuid and m.user_id = v_principal::uuid and rp.permission = p_permission) end
    into v_holds
    from authz.secrets k where k.name = 'transaction-binding';
  if v_holds then
    return v_org::uuid;
  elsif v_holds is null then
    return null; -- nothing, or something forged, is bound to this transaction
  elsif authz.provider_admin_holds(v_principal::uuid, v_org::uuid, p_permission) then
    return v_org::uuid;
  end if;
  return null;
end
$$;

create or replace function authz.current_principal_type() returns text
language plpgsql stable security definer set search_path = pg_catalog, pg_temp set plan_cache_mode = force_generic_plan as $$
declare
  v_session text := current_setting('bastion.session_id', true);
  v_type text := current_setting('bastion.principal_type', true);
  v_result text;
begin
  if v_session is null or v_session = '' then
    return null;
  end if;
  select case when current_setting('bastion.binding', true) = encode(extensions.hmac(convert_to(concat_ws('|', v_session,
                     current_setting('bastion.principal_id', true), v_type, coalesce(current_setting('bastion.org_id', true), ''),
                     pg_current_xact_id()::text), 'UTF8'), k.value, 'sha256'), 'hex')
              then nullif(v_type, '') end
    into v_result
    from authz.secrets k where k.name = 'transaction-binding';
  return v_result;
end
$$;

revoke all on function authz.provider_admin_holds(uuid, uuid, text), authz.begin(uuid, bytea, uuid) from public;
grant execute on function authz.begin(uuid, bytea, uuid) to bastion_app;

reset role;
set local role bastion_owner;

/*
 * tasks: one verified function per statement for a human, still in the scalar InitPlan form, still an ordered
 * index scan on (org_id, updated_at). The row comparison makes one InitPlan return two values: the org (the human's
 * with task:view, else the agent's) and whether that principal is a verified human. Each row then compares its own
 * reading of the principal type with that verified flag:
 *   - a verified human reads 'human' on every row: true = true, every task of the org;
 *   - a verified agent reads 'agent': the row is false only when assigned to that agent (current_principal(),
 *     evaluated for agents only), NULL otherwise: false = false on its own tasks, nothing else;
 *   - a set_config of the type before the statement breaks the binding (both functions return NULL: no row);
 *     one during the statement makes the row's reading disagree with the verified flag: fewer rows, never more.
 * The second value is boolean on purpose: PostgreSQL estimates `boolean = $n` at 0.5 and keeps the ordered index
 * scan, where a text tag is estimated at 0.005 and sends it to a bitmap scan and a sort of the whole org.
 */
drop policy tasks_read on tasks;
create policy tasks_read on tasks for select to bastion_app using (
  (org_id, case when current_setting('bastion.principal_type', true) = 'human' then true
                when assignee_type = 'agent' and assignee_id = (select authz.current_principal()) then false end)
  = (select coalesce(s.h, authz.current_agent_org()), s.h is not null
       from (select authz.current_org_if('task:view') as h offset 0) s));

reset role;
