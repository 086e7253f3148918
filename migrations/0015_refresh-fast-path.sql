-- The common refresh — the current token of a live session — in one statement (measured: four round trips per
-- rotation were the largest part of a refresh's cost). Any other case (grace window, reuse, revoked, expired) matches
-- no row and takes the full path, where the pure decision of libs/domain applies the rules in their order.
set local role bastion_authz;

create function authz.rotate_current(p_session uuid, p_counter bigint, p_grace_until timestamptz, p_idle_expires timestamptz)
returns table (principal_id uuid, counter bigint, amr text[], absolute_expires_at timestamptz)
language sql security definer set search_path = pg_catalog, pg_temp as $$
  update authz.sessions
     set counter = counter + 1, rotated_at = now(), grace_until = p_grace_until,
         idle_expires_at = least(p_idle_expires, absolute_expires_at)
   where id = p_session and principal_type = 'human' and counter = p_counter and revoked_at is null
     and idle_expires_at > now() and absolute_expires_at > now()
  returning principal_id, counter, amr, absolute_expires_at
$$;

revoke all on function authz.rotate_current(uuid, bigint, timestamptz, timestamptz) from public;
grant execute on function authz.rotate_current(uuid, bigint, timestamptz, timestamptz) to bastion_app;
