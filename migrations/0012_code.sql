-- Code governance (DESIGN §6, §7): repositories and agent grants (write-side security state), the org's merge
-- policy (N ≥ 1 human approvals; nothing makes it 0), read models for repositories and merge requests, and the
-- events table's rule that a MergeRequestApproved needs a live, MFA-fresh human session.
set local role bastion_authz;

create table authz.repositories (
  repo_id    uuid primary key,
  org_id     uuid        not null references authz.organizations (org_id),
  name       text        not null,
  created_at timestamptz not null default now(),
  unique (org_id, name)
);

create table authz.repo_agents (
  repo_id  uuid not null references authz.repositories (repo_id),
  agent_id uuid not null references authz.agents (id),
  primary key (repo_id, agent_id)
);

alter table authz.organizations
  add column required_approvals integer not null default 1 check (required_approvals >= 1),
  add column require_passing_tests boolean not null default false;

create function authz.create_repository(p_org uuid, p_repo uuid, p_name text, p_event jsonb) returns void
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  if not authz.has_permission(p_org, 'repo:create') then
    raise exception 'refused: repo:create' using errcode = '42501';
  end if;
  perform authz.expect_event(p_event, 'RepositoryCreated', 'human', authz.current_principal()::text);
  insert into authz.repositories (repo_id, org_id, name) values (p_repo, p_org, p_name);
  perform authz.append_event('repo-' || p_repo, p_event, -1);
end
$$;

create function authz.grant_repo_agent(p_org uuid, p_repo uuid, p_agent uuid, p_event jsonb) returns boolean
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  if not authz.has_permission(p_org, 'repo:create') then
    raise exception 'refused: repo:create' using errcode = '42501';
  end if;
  perform authz.expect_event(p_event, 'AgentGrantedRepoAccess', 'human', authz.current_principal()::text);
  if not exists (select 1 from authz.repositories where repo_id = p_repo and org_id = p_org)
     or not exists (select 1 from authz.agents where id = p_agent and org_id = p_org) then
    return false;
  end if;
  insert into authz.repo_agents (repo_id, agent_id) values (p_repo, p_agent) on conflict do nothing;
  perform authz.append_event('repo-' || p_repo, p_event);
  return true;
end
$$;

-- What the proven principal may do with a repository of the request's org: 'push', 'fetch' or nothing.
create function authz.repo_access(p_repo uuid) returns text
language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_org uuid := authz.current_org();
begin
  if not exists (select 1 from authz.repositories where repo_id = p_repo and org_id = v_org) then
    return null;
  end if;
  if authz.current_principal_type() = 'agent' then
    return case when exists (select 1 from authz.repo_agents where repo_id = p_repo and agent_id = authz.current_principal())
                then 'push' end;
  end if;
  if authz.has_permission(v_org, 'code:contribute') then
    return 'push';
  end if;
  if authz.has_permission(v_org, 'repo:view') then
    return 'fetch';
  end if;
  return null;
end
$$;

-- The approving session's last MFA verification (from the session row; a token claim is never trusted for this).
create function authz.current_session_mfa_at() returns timestamptz
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select mfa_at from authz.sessions where id = authz.current_session()
$$;

create function authz.code_policy(p_org uuid) returns table (required_approvals integer, require_passing_tests boolean)
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select required_approvals, require_passing_tests from authz.organizations where org_id = p_org
$$;

/*
 * may_append, with the one extra rule of DESIGN §3: a MergeRequestApproved needs a live human session whose MFA was
 * verified within 15 minutes. Agents have no capability that maps to it, so the insert policy refuses it from them.
 */
create or replace function authz.may_append(p_type text) returns boolean
language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
declare
  a authz.event_authority;
  v_org uuid := authz.current_org();
begin
  select * into a from authz.event_authority where type = p_type;
  if not found or v_org is null then
    return false;
  end if;
  if authz.current_principal_type() = 'human' then
    if p_type = 'MergeRequestApproved' and not exists (
         select 1 from authz.sessions where id = authz.current_session()
            and mfa_at is not null and mfa_at > now() - interval '15 minutes') then
      return false;
    end if;
    return a.human not in ('platform', 'system') and authz.has_permission(v_org, a.human);
  end if;
  return a.agent is not null;
end
$$;

insert into authz.event_authority (type, human, agent) values
  ('RepositoryCreated', 'platform', null),
  ('AgentGrantedRepoAccess', 'platform', null),
  ('PushAccepted', 'code:contribute', 'code:push_agent_branch'),
  ('PushRefused', 'code:contribute', 'code:push_agent_branch'),
  ('MergeRequestOpened', 'code:contribute', 'mr:open'),
  ('MergeRequestHeadUpdated', 'code:contribute', 'code:push_agent_branch'),
  ('MergeRequestCommented', 'mr:review', 'mr:open'),
  ('TestRunRequested', 'code:contribute', 'test:request'),
  ('TestRunCompleted', 'system', null),
  ('MergeRequestApproved', 'mr:approve', null),
  ('MergeRequestMerged', 'system', null),
  ('MergeRequestMergeFailed', 'system', null);

revoke all on all functions in schema authz from public;
grant execute on function
  authz.create_repository(uuid, uuid, text, jsonb), authz.grant_repo_agent(uuid, uuid, uuid, jsonb), authz.repo_access(uuid),
  authz.current_session_mfa_at(), authz.code_policy(uuid), authz.may_append(text)
to bastion_app;
grant execute on function authz.may_append(text) to bastion_projector, bastion_worker;

reset role;
set local role bastion_owner;

create table repositories (
  org_id     uuid        not null,
  repo_id    uuid        not null,
  name       text        not null,
  created_by uuid        not null,
  created_at timestamptz not null,
  primary key (org_id, repo_id)
);

create table merge_requests (
  org_id         uuid        not null,
  mr_id          uuid        not null,
  repo_id        uuid        not null,
  title          text        not null,
  description    text        not null,
  source_branch  text        not null,
  head_sha       text        not null,
  state          text        not null,
  opened_by_type text        not null,
  opened_by_id   text        not null,
  approvals      jsonb       not null default '[]',
  test_runs      jsonb       not null default '[]',
  merge_commit   text,
  last_failure   text,
  created_at     timestamptz not null,
  updated_at     timestamptz not null,
  primary key (org_id, mr_id)
);

do $$
declare t text;
begin
  foreach t in array array['repositories', 'merge_requests'] loop
    execute format('alter table %I enable row level security', t);
    execute format('alter table %I force row level security', t);
    execute format('revoke all on %I from public', t);
    execute format('grant select, insert, update, delete, truncate on %I to bastion_projector', t);
    execute format('grant select on %I to bastion_app', t);
  end loop;
end
$$;
create policy repositories_read on repositories for select to bastion_app
  using (org_id = (select authz.current_org_if('repo:view')));
create policy repositories_read_agent on repositories for select to bastion_app
  using (org_id = (select authz.current_agent_org()));
create policy merge_requests_read on merge_requests for select to bastion_app
  using (org_id = (select authz.current_org_if('mr:view')));
create policy merge_requests_read_agent on merge_requests for select to bastion_app
  using (org_id = (select authz.current_agent_org()));

-- Agents read the streams of their org's repositories and merge requests (to decide their commands).
create policy events_agent_code_read on events for select to bastion_app
  using (org_id = (select authz.current_agent_org()) and (stream_id like 'repo-%' or stream_id like 'mr-%'));
