-- Measured by `npm run bench:rls` (docs/performance.md): two permissive policies on `tasks` OR-ed together made
-- PostgreSQL read and sort all of an org's tasks to return 50, and authz.binding, a LANGUAGE sql function, was
-- re-planned on each of its calls. One policy per table, in the scalar InitPlan form, and PL/pgSQL functions.
set local role bastion_owner;

drop policy tasks_read on tasks;
drop policy tasks_read_assigned_agent on tasks;
-- Humans with task:view see the org's tasks; an agent only those assigned to it. One scalar per statement.
create policy tasks_read on tasks for select to bastion_app
  using (org_id = (select coalesce(authz.current_org_if('task:view'), authz.current_agent_org()))
         and ((select authz.current_principal_type() = 'human')
              or (assignee_type = 'agent' and assignee_id = (select authz.current_principal()))));

reset role;
set local role bastion_authz;

create or replace function authz.binding(p_session text, p_principal text, p_type text, p_org text) returns text
language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
begin
  return encode(extensions.hmac(
           convert_to(concat_ws('|', p_session, p_principal, p_type, coalesce(p_org, ''), pg_current_xact_id()::text), 'UTF8'),
           (select value from authz.secrets where name = 'transaction-binding'), 'sha256'), 'hex');
end
$$;
revoke all on function authz.binding(text, text, text, text) from public;
