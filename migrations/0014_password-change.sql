-- A signed-in password change: compare-and-set on the hash the API verified, and every other session revoked.
set local role bastion_authz;

create function authz.change_password(p_old_hash text, p_new_hash text, p_event jsonb) returns integer
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_user uuid := authz.current_principal();
  v_revoked integer;
begin
  if v_user is null or authz.current_principal_type() <> 'human' then
    raise exception 'refused: a signed-in human changes their password' using errcode = '42501';
  end if;
  perform authz.expect_event(p_event, 'PasswordChanged', 'human', v_user::text);
  update authz.users set password_hash = p_new_hash, password_changed_at = now() where id = v_user and password_hash = p_old_hash;
  if not found then
    return null;
  end if;
  update authz.sessions set revoked_at = now(), revoked_reason = 'password_changed'
   where principal_type = 'human' and principal_id = v_user and revoked_at is null and id <> authz.current_session();
  get diagnostics v_revoked = row_count;
  perform authz.append_event('user-' || v_user, jsonb_set(p_event, '{data,revokedSessions}', to_jsonb(v_revoked)));
  return v_revoked;
end
$$;

create function authz.my_password_hash() returns text
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select password_hash from authz.users where id = authz.current_principal() and authz.current_principal_type() = 'human'
$$;

insert into authz.event_authority (type, human, agent) values ('PasswordChanged', 'platform', null);
revoke all on all functions in schema authz from public;
grant execute on function authz.change_password(text, text, jsonb), authz.my_password_hash() to bastion_app;
