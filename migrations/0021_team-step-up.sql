-- Team commands that hand out or take away access need step-up MFA too (DESIGN §5: "change roles" is a sensitive
-- command). A role change already did (0007), but inviting an Admin minted the same power with `team:invite` alone, and
-- removing someone else needed only `team:manage`: a stolen Admin session with no recent MFA could add Admins of its
-- choosing by invitation and throw the real ones out. Both functions keep every check they had and their signatures,
-- so their grants (EXECUTE to bastion_app only, not PUBLIC) carry over; they are restated below all the same.
set local role bastion_authz;

/*
 * Invite by email with an org role (never provider_admin). The token's hash only; the event has no token.
 * An Admin invitation needs step-up: accepting it grants team:manage, org:security and the rest, which is the "change
 * roles" of DESIGN §5 by another door. A viewer or member invitation does not: it grants less than the inviting session
 * can already do itself, and requiring MFA for it would make TOTP a precondition of ordinary onboarding. The event must
 * describe the invitation it records (an Admin invitation cannot be audited as a member one).
 */
create or replace function authz.invite_member(p_org uuid, p_invitation uuid, p_email text, p_email_normalized text, p_role text,
                                               p_token_hash bytea, p_expires timestamptz, p_event jsonb) returns void
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  if not authz.has_permission(p_org, 'team:invite') then
    raise exception 'refused: team:invite' using errcode = '42501';
  end if;
  if p_role not in ('viewer', 'member', 'admin') then
    raise exception 'refused: an organisation invites viewers, members or admins only' using errcode = '42501';
  end if;
  if p_role = 'admin' then
    perform authz.require_fresh_mfa();
  end if;
  perform authz.expect_event(p_event, 'MemberInvited', 'human', authz.current_principal()::text);
  if p_event -> 'data' ->> 'role' is distinct from p_role
     or (p_event -> 'data' ->> 'invitationId')::uuid is distinct from p_invitation
     or (p_event -> 'data' ->> 'orgId')::uuid is distinct from p_org
     or (p_event -> 'metadata' ->> 'orgId')::uuid is distinct from p_org then
    raise exception 'refused: the event does not describe the invitation' using errcode = '42501';
  end if;
  insert into authz.invitations (id, org_id, email, email_normalized, role, token_hash, invited_by, expires_at)
  values (p_invitation, p_org, p_email, p_email_normalized, p_role, p_token_hash, authz.current_principal(), p_expires);
  perform authz.append_event('org-' || p_org, p_event);
end
$$;

/*
 * Removal (team:manage and step-up, whatever the removed member's role: taking someone's access away is as sensitive
 * as changing it) or leaving (oneself, no step-up: anyone may always walk out). Never the last Admin; the removed
 * member's sessions end. The event must name the member it records.
 */
create or replace function authz.remove_member(p_org uuid, p_user uuid, p_event jsonb) returns boolean
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_self boolean := p_user = authz.current_principal();
begin
  if v_self then
    perform authz.expect_event(p_event, 'MemberLeft', 'human', p_user::text);
  else
    if not authz.has_permission(p_org, 'team:manage') then
      raise exception 'refused: team:manage' using errcode = '42501';
    end if;
    perform authz.require_fresh_mfa();
    perform authz.expect_event(p_event, 'MemberRemoved', 'human', authz.current_principal()::text);
  end if;
  if (p_event -> 'data' ->> 'userId')::uuid is distinct from p_user
     or (p_event -> 'data' ->> 'orgId')::uuid is distinct from p_org
     or (p_event -> 'metadata' ->> 'orgId')::uuid is distinct from p_org then
    raise exception 'refused: the event does not describe the removal' using errcode = '42501';
  end if;
  perform 1 from authz.memberships where org_id = p_org and user_id = p_user for update;
  if not found then
    return false;
  end if;
  perform authz.assert_admin_remains(p_org, p_user);
  delete from authz.memberships where org_id = p_org and user_id = p_user;
  if not v_self then
    update authz.sessions set revoked_at = now(), revoked_reason = 'removed_from_org'
     where principal_type = 'human' and principal_id = p_user and revoked_at is null;
  end if;
  perform authz.append_event('org-' || p_org, p_event);
  return true;
end
$$;

revoke all on function authz.invite_member(uuid, uuid, text, text, text, bytea, timestamptz, jsonb),
  authz.remove_member(uuid, uuid, jsonb) from public;
grant execute on function authz.invite_member(uuid, uuid, text, text, text, bytea, timestamptz, jsonb),
  authz.remove_member(uuid, uuid, jsonb) to bastion_app;

reset role;
