-- The API's role appends an event only when every org it names is the request's (review of 2026-11-26).
-- events_app_append checked the org_id column, but the projector reads the org from the event itself:
-- `metadata.orgId`, and `data.orgId` where the event carries one (the member list, tasks, invitations, merge
-- requests). So SQL in an admin's request of org A could insert a MemberRoleChanged with org_id A and
-- data.orgId V, and the member-list projection demoted V's admin in V's list; anyone holding task:create could put
-- a task on another org's canvas the same way. Now the insert is refused unless metadata.orgId is the request's org
-- and data.orgId, when present, is too. The attacks are tests: test/e2e/app-role-functions.e2e.spec.ts.
set local role bastion_owner;

alter policy events_app_append on events
  with check (
    org_id = (select authz.current_org())
    and (metadata ->> 'orgId')::uuid = org_id
    and (not data ? 'orgId' or (data ->> 'orgId')::uuid = org_id)
    and metadata -> 'actor' ->> 'id' = (select authz.current_principal())::text
    and metadata -> 'actor' ->> 'type' = (select authz.current_principal_type())
    and authz.may_append(type));

reset role;
