-- Code governance, second part (DESIGN §7): the org's merge-request policy set through one audited definer function,
-- the merge worker's read of that policy (it re-checks every rule before moving main), and a read model of test runs.
set local role bastion_authz;

/*
 * org:security with a fresh MFA verification sets N (1 to 10: the column's check and this function both refuse 0) and
 * whether a passing test run on the current head is required. The event must say exactly what is set.
 */
create function authz.set_code_policy(p_org uuid, p_required_approvals integer, p_require_passing_tests boolean, p_event jsonb)
returns void
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  if authz.current_principal_type() is distinct from 'human' or not authz.has_permission(p_org, 'org:security') then
    raise exception 'refused: org:security' using errcode = '42501';
  end if;
  perform authz.require_fresh_mfa();
  if p_required_approvals is null or p_required_approvals < 1 or p_required_approvals > 10 or p_require_passing_tests is null then
    raise exception 'refused: required approvals must be from 1 to 10' using errcode = '22023';
  end if;
  perform authz.expect_event(p_event, 'MergeRequestPolicyChanged', 'human', authz.current_principal()::text);
  if (p_event -> 'data' ->> 'orgId')::uuid is distinct from p_org
     or (p_event -> 'metadata' ->> 'orgId')::uuid is distinct from p_org
     or (p_event -> 'data' ->> 'requiredApprovals')::integer is distinct from p_required_approvals
     or (p_event -> 'data' ->> 'requirePassingTests')::boolean is distinct from p_require_passing_tests then
    raise exception 'refused: the event does not describe the change' using errcode = '42501';
  end if;
  update authz.organizations
     set required_approvals = p_required_approvals, require_passing_tests = p_require_passing_tests
   where org_id = p_org;
  perform authz.append_event('org-' || p_org, p_event);
end
$$;

insert into authz.event_authority (type, human, agent) values ('MergeRequestPolicyChanged', 'platform', null);

revoke all on function authz.set_code_policy(uuid, integer, boolean, jsonb) from public;
grant execute on function authz.set_code_policy(uuid, integer, boolean, jsonb) to bastion_app;
-- The merge worker re-reads the policy: a policy tightened after an approval stops the merge.
grant execute on function authz.code_policy(uuid) to bastion_worker;

reset role;
set local role bastion_owner;

-- One row per requested run; the outcome fills in when the sandboxed run completes. No output is kept (see the event).
create table merge_request_test_runs (
  org_id            uuid        not null,
  mr_id             uuid        not null,
  run_id            uuid        not null,
  head_sha          text        not null,
  status            text        not null check (status in ('requested', 'passed', 'failed')),
  exit_code         integer,
  timed_out         boolean,
  invalid_config    boolean,
  duration_ms       integer,
  requested_by_type text        not null,
  requested_by_id   text        not null,
  requested_at      timestamptz not null,
  completed_at      timestamptz,
  primary key (org_id, run_id)
);
create index merge_request_test_runs_by_mr on merge_request_test_runs (org_id, mr_id, requested_at);

alter table merge_request_test_runs enable row level security;
alter table merge_request_test_runs force row level security;
revoke all on merge_request_test_runs from public;
grant select, insert, update, delete, truncate on merge_request_test_runs to bastion_projector;
grant select on merge_request_test_runs to bastion_app;
create policy merge_request_test_runs_read on merge_request_test_runs for select to bastion_app
  using (org_id = (select authz.current_org_if('mr:view')));
create policy merge_request_test_runs_read_agent on merge_request_test_runs for select to bastion_app
  using (org_id = (select authz.current_agent_org()));

-- Runs moved to their own table.
alter table merge_requests drop column test_runs;
