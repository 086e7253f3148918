-- Per-person keys for personal data in events (DESIGN §3, §9): crypto-shredding for an append-only store.
--
-- Personal data that enters an event (an email, a display name, the request's IP address and user agent) is sealed
-- at the command with a random AES-256-GCM key of its person; only the KMS-wrapped key is stored, here, in a
-- mutable table that no event ever copies. Erasing a person deletes their rows: every ciphertext of theirs in the
-- immutable log (and in exports, and in backups once those age out) is then noise, while the hash chain, which
-- covers the ciphertexts as stored, still verifies.
--
-- A person is a subject: a user's (or agent's) id when the data is about an account, or `e-<uuid>` for an email
-- that names no account yet (an invitation, a failed sign-in). An email subject is random; only `email_lookup`
-- (HMAC-SHA256 of the normalised email under a server key the database does not hold) links it to the address, so
-- once its row is gone the pseudonym left in old events links to nobody.
--
-- The API reads and creates keys only through the definer functions below; no application role may delete one.
-- Erasure is the operator's (`bastion erase-person`), through authz.erase_person, which nothing is granted.
set local role bastion_authz;

create table authz.person_keys (
  subject      text        primary key
               check (subject ~ '^(e-)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'),
  email_lookup bytea       unique check (email_lookup is null or octet_length(email_lookup) = 32),
  key_ref      text        not null check (octet_length(key_ref) between 1 and 512),
  -- Every wrapping adds a nonce and a tag: a bare 32-byte key cannot be stored here by mistake.
  wrapped      bytea       not null check (octet_length(wrapped) between 48 and 8192),
  created_at   timestamptz not null default now(),
  -- Email subjects, and only they, are found by their email.
  check ((subject like 'e-%') = (email_lookup is not null))
);

-- The wrapped keys of these subjects; a subject without a row has none (never had one, or was erased).
create function authz.person_keys_of(p_subjects text[])
returns table (subject text, key_ref text, wrapped bytea)
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select k.subject, k.key_ref, k.wrapped from authz.person_keys k where k.subject = any (p_subjects)
$$;

-- The email subject of this lookup hash, if one exists.
create function authz.person_key_for_email(p_email_lookup bytea)
returns table (subject text, key_ref text, wrapped bytea)
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select k.subject, k.key_ref, k.wrapped from authz.person_keys k where k.email_lookup = p_email_lookup
$$;

-- Stores a new person key unless the subject (or the email) already has one; returns the row that is there now,
-- so a concurrent first use reads the winner's key. Never replaces a key.
create function authz.store_person_key(p_subject text, p_email_lookup bytea, p_key_ref text, p_wrapped bytea)
returns table (subject text, key_ref text, wrapped bytea)
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  insert into authz.person_keys (subject, email_lookup, key_ref, wrapped)
  values (p_subject, p_email_lookup, p_key_ref, p_wrapped)
  on conflict do nothing;
  return query
    select k.subject, k.key_ref, k.wrapped from authz.person_keys k
     where case when p_email_lookup is null then k.subject = p_subject else k.email_lookup = p_email_lookup end;
end
$$;

-- Whose single-use email token this is (live and unused), so the API can seal the request's IP address and user
-- agent for that person before it consumes the token. The token is 256 random bits: it proves its owner.
create function authz.email_token_owner(p_token_hash bytea, p_purpose text) returns uuid
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select t.user_id from authz.email_tokens t
   where t.token_hash = p_token_hash and t.purpose = p_purpose and t.used_at is null and t.expires_at > now()
$$;

-- Crypto-shredding: deletes the keys of a user (their own subject, and the email subject of their address) or of
-- an email without an account. Returns how many keys were deleted. Granted to no application role.
create function authz.erase_person(p_user uuid, p_email_lookup bytea) returns integer
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_count integer;
begin
  delete from authz.person_keys
   where (p_user is not null and subject = p_user::text)
      or (p_email_lookup is not null and email_lookup = p_email_lookup);
  get diagnostics v_count = row_count;
  return v_count;
end
$$;

-- `PersonErased` is appended by the operator's CLI with the owner's rights, never by an application role, so it
-- needs no row in authz.event_authority (which only governs what bastion_app may append).

revoke all on all functions in schema authz from public;
grant execute on function
  authz.person_keys_of(text[]), authz.person_key_for_email(bytea), authz.store_person_key(text, bytea, text, bytea),
  authz.email_token_owner(bytea, text)
to bastion_app;
