-- Read models for organisations, teams, agents and tasks, written only by the projector (BYPASSRLS) and read by
-- the API through policies in the scalar InitPlan form of DESIGN §4: `org_id = (select authz.current_org_if(…))`.
set local role bastion_owner;

-- Display names and emails of users, for the member list; personal data kept out of the API's reach (no grant).
create table user_profiles (
  user_id      uuid primary key,
  email        text not null,
  display_name text not null
);

create table org_members (
  org_id       uuid        not null,
  user_id      uuid        not null,
  role         text        not null,
  display_name text        not null,
  email        text        not null,
  joined_at    timestamptz not null,
  primary key (org_id, user_id)
);

create table org_invitations (
  org_id        uuid        not null,
  invitation_id uuid        not null,
  email         text        not null,
  role          text        not null,
  invited_by    uuid        not null,
  created_at    timestamptz not null,
  status        text        not null check (status in ('pending', 'accepted', 'revoked')),
  primary key (org_id, invitation_id)
);

create table agents (
  org_id     uuid        not null,
  agent_id   uuid        not null,
  name       text        not null,
  created_by uuid        not null,
  created_at timestamptz not null,
  active_keys integer    not null default 0,
  primary key (org_id, agent_id)
);

create table tasks (
  org_id        uuid        not null,
  task_id       uuid        not null,
  title         text        not null,
  -- Sensitive: stored exactly as the event carries it (ciphertext once BYOK encryption applies).
  description   text        not null,
  status        text        not null,
  position      integer     not null,
  assignee_type text,
  assignee_id   uuid,
  created_by    uuid        not null,
  created_at    timestamptz not null,
  updated_at    timestamptz not null,
  primary key (org_id, task_id)
);
create index tasks_org_updated on tasks (org_id, updated_at desc);
create index tasks_assignee on tasks (assignee_id) where assignee_id is not null;

do $$
declare t text;
begin
  foreach t in array array['user_profiles', 'org_members', 'org_invitations', 'agents', 'tasks'] loop
    execute format('alter table %I enable row level security', t);
    execute format('alter table %I force row level security', t);
    execute format('revoke all on %I from public', t);
    execute format('grant select, insert, update, delete, truncate on %I to bastion_projector', t);
  end loop;
  foreach t in array array['org_members', 'org_invitations', 'agents', 'tasks'] loop
    execute format('grant select on %I to bastion_app', t);
  end loop;
end
$$;

create policy organizations_read on organizations for select to bastion_app
  using (org_id = (select authz.current_org_if('team:view')));
-- A Provider Admin's overview across the organisations of its provider (queries name the org explicitly too).
create policy organizations_overview on organizations for select to bastion_app
  using (org_id = any ((select authz.orgs_with_permission('team:view'))::uuid[]));
create policy org_activity_read on org_activity for select to bastion_app
  using (org_id = (select authz.current_org_if('audit:view')));
create policy org_members_read on org_members for select to bastion_app
  using (org_id = (select authz.current_org_if('team:view')));
create policy org_invitations_read on org_invitations for select to bastion_app
  using (org_id = (select authz.current_org_if('team:invite')));
create policy agents_read on agents for select to bastion_app
  using (org_id = (select authz.current_org_if('agent:view')));
create policy tasks_read on tasks for select to bastion_app
  using (org_id = (select authz.current_org_if('task:view')));
-- An agent sees the tasks assigned to it, in its own organisation, and nothing else.
create policy tasks_read_assigned_agent on tasks for select to bastion_app
  using (org_id = (select authz.current_agent_org()) and assignee_type = 'agent'
         and assignee_id = (select authz.current_principal()));

-- An agent reads the streams of the tasks assigned to it (to decide its commands), and its own stream.
create policy events_agent_read on events for select to bastion_app
  using (org_id = (select authz.current_agent_org())
         and (stream_id = 'agent-' || (select authz.current_principal())::text
              or stream_id = any (select 'task-' || t.task_id::text from tasks t)));
