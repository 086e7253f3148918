-- authz.begin refuses a session whose proof is NULL. Since migration 0005 its refusal was a condition that a NULL
-- proof made NULL (`proof_hash <> digest(p_proof)`, later `not (… and proof_hash = sha256(p_proof))`), and PL/pgSQL's
-- IF takes NULL for false: `select authz.begin('<any live session id>', null, '<its org>')` from bastion_app, which is
-- what injected SQL runs as, opened a request as that session's principal without its proof. Now the session counts
-- as live only when every test is true (coalesce(…, false)), and a NULL required permission is refused like any
-- permission not held. The body is migration 0026's otherwise; its grants carry over (create or replace).
-- The attacks are tests: libs/infra/src/database/with-principal.int.spec.ts, "a session is honoured only with its
-- proof".
set local role bastion_authz;

create or replace function authz.begin(p_session uuid, p_proof bytea, p_org uuid default null, p_require text[] default null)
returns void
language plpgsql security definer set search_path = pg_catalog, pg_temp set plan_cache_mode = force_generic_plan as $$
declare
  r record;
  v_permissions text;
  v text;
  v_required text;
begin
  -- The session, and for a human in an org: the org's MFA rule and provider, and the principal's member role there.
  select x.principal_type as ptype, x.principal_id as pid, x.org_id as porg, x.mfa_at as pmfa,
         -- coalesce: with a NULL proof the comparison is NULL, and IF takes NULL for false (the refusal below
         -- would not fire). Anything short of a proven, live session is false.
         coalesce(x.revoked_at is null and x.idle_expires_at > now() and x.absolute_expires_at > now()
                  and x.proof_hash = sha256(p_proof), false) as live,
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
  -- The route's declared permissions (the application's own check, which used to be a statement of its own through
  -- current_org_if): held here by a human, or the request is forbidden before it reads anything.
  if p_require is not null then
    if p_org is null or r.ptype <> 'human' then
      raise exception 'a required permission needs a human in an organisation' using errcode = 'BA005';
    end if;
    foreach v_required in array p_require loop
      -- A NULL name makes strpos NULL: refused like any name not held.
      if coalesce(strpos(v_permissions, ',' || v_required || ','), 0) = 0 then
        raise exception 'permission not held here' using errcode = 'BA005';
      end if;
    end loop;
  end if;
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

reset role;
