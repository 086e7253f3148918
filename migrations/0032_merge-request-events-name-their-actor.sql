-- The merge-request events the app role inserts name their own actor where they name one, and an approval's N is a
-- number (review of 2026-11-26). The merge saga folds what the API appends, and SQL in a request can append around
-- the decider: a MergeRequestOpened naming someone else as its author, or a MergeRequestHeadUpdated naming another
-- pusher, let the real author approve their own code; an approval with a non-numeric requiredApprovals made the
-- saga's N NaN, and one approval merged where the org asks for several. The fold now ignores such approvals and a
-- second opening too (libs/domain/src/code/merge-request.decider.ts); this is the same rule at the insert.
-- The attacks are tests: test/e2e/app-role-functions.e2e.spec.ts.
set local role bastion_owner;

alter policy events_app_append on events
  with check (
    org_id = (select authz.current_org())
    and (metadata ->> 'orgId')::uuid = org_id
    and jsonb_typeof(data) = 'object'
    and (not data ? 'orgId' or (data ->> 'orgId')::uuid = org_id)
    and (metadata ->> 'occurredAt')::timestamptz is not null
    and metadata -> 'actor' ->> 'id' = (select authz.current_principal())::text
    and metadata -> 'actor' ->> 'type' = (select authz.current_principal_type())
    and (type <> 'MergeRequestApproved'
         or (data ->> 'approverId' = metadata -> 'actor' ->> 'id' and jsonb_typeof(data -> 'requiredApprovals') = 'number'))
    and (type <> 'MergeRequestOpened' or data -> 'openedBy' = metadata -> 'actor')
    and (type <> 'MergeRequestHeadUpdated' or data -> 'pushedBy' = metadata -> 'actor')
    and (type <> 'TestRunRequested' or data -> 'requestedBy' = metadata -> 'actor')
    and authz.may_append(type));

reset role;
