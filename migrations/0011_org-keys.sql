-- Per-organisation data-encryption keys (DESIGN §9): envelope encryption with BYOK, the emergency stop, and the
-- destruction of the platform-wrapped copy when an org moves to its own key.
--
-- Only wrapped DEKs are stored here, never a plaintext one: the API unwraps through the KMS port, outside any
-- transaction, and keeps the plaintext in memory for a bounded time. Nothing in this file can reveal a DEK, and no
-- event carries key material: each function checks that its event's data is exactly what it already knows
-- (org, version, key reference, provider), so no byte of a wrapped or plaintext key can ride along.
--
-- Custom SQLSTATEs (class BA, see 0007):
--   BA010 the organisation has no data key (or it was destroyed) · BA011 the organisation's key is revoked
set local role bastion_authz;

create table authz.org_data_keys (
  org_id       uuid        not null references authz.organizations (org_id),
  -- Written into every field token the DEK seals, and bound into the wrapping AAD.
  version      integer     not null check (version between 1 and 2147483647),
  -- `local://<name>` (the platform's local KMS) or `projects/…/cryptoKeys/<key>` (Google Cloud KMS, the org's own).
  key_ref      text        not null check (octet_length(key_ref) between 1 and 512),
  provider     text        not null check (provider in ('local', 'gcp')),
  -- The DEK wrapped under key_ref, with AAD binding org and version; null once destroyed (crypto-shredding).
  wrapped      bytea,
  created_at   timestamptz not null default now(),
  rewrapped_at timestamptz,
  -- Set when a newer DEK version becomes current (rotation); a retired version still opens old tokens.
  retired_at   timestamptz,
  destroyed_at timestamptz,
  primary key (org_id, version),
  check ((provider = 'local' and key_ref like 'local://%') or (provider = 'gcp' and key_ref like 'projects/%')),
  check ((destroyed_at is null) = (wrapped is not null)),
  check (destroyed_at is null or retired_at is not null),
  -- Every wrapping adds a nonce and a tag: a bare 32-byte DEK (or its base64) cannot be stored here by mistake.
  check (wrapped is null or octet_length(wrapped) between 48 and 8192)
);
-- At most one current DEK per organisation.
create unique index org_data_keys_one_current on authz.org_data_keys (org_id) where retired_at is null;

-- The org's emergency stop, per organisation (not per DEK version): while revoked_at is set, no DEK of the org is
-- handed out, whatever the KMS says and whatever a process has cached.
create table authz.org_key_state (
  org_id     uuid primary key references authz.organizations (org_id),
  revoked_at timestamptz,
  revoked_by uuid,
  changed_at timestamptz not null default now()
);

-- Internal: the caller holds org:security in the request's own organisation.
create function authz.org_key_authorize(p_org uuid) returns void
language plpgsql stable set search_path = pg_catalog, pg_temp as $$
begin
  if p_org is null or p_org is distinct from authz.current_org() or not authz.has_permission(p_org, 'org:security') then
    raise exception 'refused: org:security' using errcode = '42501';
  end if;
end
$$;

-- Internal: the event is of the expected type, by the proven human, in this org, with exactly `p_data` as data.
create function authz.expect_org_key_event(p_event jsonb, p_type text, p_org uuid, p_data jsonb) returns void
language plpgsql stable set search_path = pg_catalog, pg_temp as $$
declare
  v_user uuid := authz.current_principal();
begin
  if v_user is null then
    raise exception 'refused: no proven principal' using errcode = '42501';
  end if;
  perform authz.expect_event(p_event, p_type, 'human', v_user::text);
  if p_event -> 'metadata' ->> 'orgId' is distinct from p_org::text or p_event -> 'data' is distinct from p_data then
    raise exception 'refused: malformed % event', p_type using errcode = '42501';
  end if;
end
$$;

/*
 * The request organisation's DEK, wrapped: the current version, or `p_version` (a token names the version it
 * needs). Any principal scoped to the org (members of every role, its agents) may read it: it opens nothing
 * without the KMS. `revoked` is the org's emergency stop; the caller must refuse to unwrap while it is set.
 */
create function authz.org_data_key(p_org uuid, p_version integer default null)
returns table (org_id uuid, version integer, key_ref text, provider text, wrapped bytea, revoked boolean,
               revoked_at timestamptz, created_at timestamptz, rewrapped_at timestamptz, destroyed_at timestamptz)
language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
#variable_conflict use_column
begin
  if p_org is null or p_org is distinct from authz.current_org() then
    raise exception 'refused: not the request''s organisation' using errcode = '42501';
  end if;
  return query
    select k.org_id, k.version, k.key_ref, k.provider, k.wrapped, s.revoked_at is not null, s.revoked_at,
           k.created_at, k.rewrapped_at, k.destroyed_at
      from authz.org_data_keys k left join authz.org_key_state s on s.org_id = k.org_id
     where k.org_id = p_org
       and case when p_version is null then k.retired_at is null else k.version = p_version end;
end
$$;

-- The same, before a change of the key's wrapping: org:security and a fresh MFA verification, checked before the
-- API spends a KMS call on it.
create function authz.org_data_key_for_change(p_org uuid)
returns table (org_id uuid, version integer, key_ref text, provider text, wrapped bytea, revoked boolean,
               revoked_at timestamptz, created_at timestamptz, rewrapped_at timestamptz, destroyed_at timestamptz)
language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
begin
  perform authz.org_key_authorize(p_org);
  perform authz.require_fresh_mfa();
  return query select * from authz.org_data_key(p_org);
end
$$;

/*
 * Stores an organisation's first DEK (version 1), wrapped. org:security (an Admin at org creation, or a Provider
 * Admin); wrapped under anything but the platform's local KMS, also a fresh MFA verification, as for a rewrap.
 * Returns false, appending nothing, when the org already has a DEK (a concurrent first use won): the caller reads
 * and unwraps that one instead.
 */
create function authz.store_first_org_data_key(p_org uuid, p_version integer, p_key_ref text, p_provider text,
                                               p_wrapped bytea, p_event jsonb) returns boolean
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  perform authz.org_key_authorize(p_org);
  if p_provider is distinct from 'local' then
    perform authz.require_fresh_mfa();
  end if;
  if p_version is distinct from 1 then
    raise exception 'refused: an organisation''s first data key is version 1' using errcode = '42501';
  end if;
  perform authz.expect_org_key_event(p_event, 'OrgKeyCreated', p_org,
    jsonb_build_object('orgId', p_org, 'version', p_version, 'keyRef', p_key_ref, 'provider', p_provider));
  if exists (select 1 from authz.org_data_keys where org_id = p_org) then
    return false;
  end if;
  insert into authz.org_data_keys (org_id, version, key_ref, provider, wrapped)
  values (p_org, p_version, p_key_ref, p_provider, p_wrapped)
  on conflict do nothing;
  if not found then
    return false;
  end if;
  insert into authz.org_key_state (org_id) values (p_org) on conflict do nothing;
  perform authz.append_event('org-' || p_org, p_event);
  return true;
end
$$;

/*
 * Replaces the wrapping of one DEK version (org:security, step-up): the same DEK, now wrapped under `p_key_ref`.
 * The row is updated in place, so the previous wrapped copy — the platform-wrapped one when an org moves to its own
 * key — is kept by no row afterwards. (Until VACUUM reclaims the old row version, it survives in the table's heap;
 * it survives in WAL and backups until they age out. DESIGN §9 states the guarantee from then on.)
 *
 * A compare-and-swap on the wrapping the caller unwrapped (`p_expected_*`): a concurrent rewrap fails with 40001
 * instead of being overwritten by a wrapping of stale state.
 */
create function authz.rewrap_org_data_key(p_org uuid, p_version integer, p_expected_key_ref text, p_expected_wrapped bytea,
                                          p_key_ref text, p_provider text, p_wrapped bytea, p_event jsonb) returns void
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  k authz.org_data_keys;
begin
  perform authz.org_key_authorize(p_org);
  perform authz.require_fresh_mfa();
  select * into k from authz.org_data_keys where org_id = p_org and version = p_version for update;
  if not found or k.destroyed_at is not null then
    raise exception 'the organisation has no such data key' using errcode = 'BA010';
  end if;
  if k.key_ref is distinct from p_expected_key_ref or k.wrapped is distinct from p_expected_wrapped then
    raise exception 'the data key was re-wrapped concurrently' using errcode = '40001';
  end if;
  if exists (select 1 from authz.org_key_state where org_id = p_org and revoked_at is not null) then
    raise exception 'the organisation''s key is revoked' using errcode = 'BA011';
  end if;
  perform authz.expect_org_key_event(p_event, 'OrgKeyRewrapped', p_org,
    jsonb_build_object('orgId', p_org, 'version', p_version, 'keyRef', p_key_ref, 'provider', p_provider,
                       'previousKeyRef', k.key_ref, 'previousProvider', k.provider));
  update authz.org_data_keys set key_ref = p_key_ref, provider = p_provider, wrapped = p_wrapped, rewrapped_at = now()
   where org_id = p_org and version = p_version;
  perform authz.append_event('org-' || p_org, p_event);
end
$$;

-- The emergency stop (org:security, step-up). Returns false, appending nothing, when it is already revoked.
create function authz.revoke_org_key(p_org uuid, p_event jsonb) returns boolean
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  perform authz.org_key_authorize(p_org);
  perform authz.require_fresh_mfa();
  perform authz.expect_org_key_event(p_event, 'OrgKeyRevoked', p_org, jsonb_build_object('orgId', p_org));
  perform 1 from authz.org_key_state where org_id = p_org for update;
  if not found then
    raise exception 'the organisation has no data key' using errcode = 'BA010';
  end if;
  update authz.org_key_state set revoked_at = now(), revoked_by = authz.current_principal(), changed_at = now()
   where org_id = p_org and revoked_at is null;
  if not found then
    return false;
  end if;
  perform authz.append_event('org-' || p_org, p_event);
  return true;
end
$$;

-- Lifts the emergency stop (org:security, step-up). Returns false, appending nothing, when it was not revoked.
create function authz.restore_org_key(p_org uuid, p_event jsonb) returns boolean
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  perform authz.org_key_authorize(p_org);
  perform authz.require_fresh_mfa();
  perform authz.expect_org_key_event(p_event, 'OrgKeyRestored', p_org, jsonb_build_object('orgId', p_org));
  perform 1 from authz.org_key_state where org_id = p_org for update;
  if not found then
    raise exception 'the organisation has no data key' using errcode = 'BA010';
  end if;
  update authz.org_key_state set revoked_at = null, revoked_by = null, changed_at = now()
   where org_id = p_org and revoked_at is not null;
  if not found then
    return false;
  end if;
  perform authz.append_event('org-' || p_org, p_event);
  return true;
end
$$;

insert into authz.event_authority (type, human, agent) values
  ('OrgKeyCreated', 'platform', null),
  ('OrgKeyRewrapped', 'platform', null),
  ('OrgKeyRevoked', 'platform', null),
  ('OrgKeyRestored', 'platform', null);

revoke all on all functions in schema authz from public;
grant execute on function
  authz.org_data_key(uuid, integer), authz.org_data_key_for_change(uuid),
  authz.store_first_org_data_key(uuid, integer, text, text, bytea, jsonb),
  authz.rewrap_org_data_key(uuid, integer, text, bytea, text, text, bytea, jsonb),
  authz.revoke_org_key(uuid, jsonb), authz.restore_org_key(uuid, jsonb)
to bastion_app;
