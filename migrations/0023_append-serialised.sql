-- Definer appends to one stream, serialised. authz.append_event read the stream's last revision and inserted at the
-- next one with no lock, so two transactions appending to one stream (a sign-in's SessionStarted and another
-- sign-in's, or a SignInFailed, from another API process) read the same revision and the later one failed with a
-- raw unique violation on (stream_id, revision): a 500, and the event lost.
--
-- Now it first takes a transaction-scoped advisory lock on the stream, in the two-int form
-- (736155203, hashtext(stream)). The class 736155203 is the event store's stream lock and nothing else's: the
-- other advisory locks in this repository are one-bigint keys (7361552001 bootstrap, 7361552002 test template),
-- which PostgreSQL keeps apart from two-int keys. The PostgreSQL event-store adapter takes the same lock before it
-- appends to a stream that may exist (postgres-event-store.sql.ts), so the two cannot interleave either. A second
-- appender waits until the first commits or rolls back; under READ COMMITTED (every Bastion transaction) the read
-- of the revision after the lock is a new statement with a new snapshot, so it sees the first append. Two streams
-- whose ids hash alike merely wait for each other.
set local role bastion_authz;

-- Appends one event at the stream's next revision, as bastion_authz. Internal: granted to no one.
create or replace function authz.append_event(p_stream text, p_event jsonb, p_expected bigint default null) returns bigint
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_rev bigint;
begin
  perform pg_advisory_xact_lock(736155203, hashtext(p_stream));
  select coalesce(max(revision), -1) into v_rev from public.events where stream_id = p_stream;
  if p_expected is not null and v_rev <> p_expected then
    raise exception 'stream % is at revision %, expected %', p_stream, v_rev, p_expected using errcode = '40001';
  end if;
  insert into public.events (id, stream_id, revision, type, org_id, data, metadata)
  values ((p_event ->> 'id')::uuid, p_stream, v_rev + 1, p_event ->> 'type',
          (p_event -> 'metadata' ->> 'orgId')::uuid, p_event -> 'data', p_event -> 'metadata');
  return v_rev + 1;
end
$$;

-- CREATE OR REPLACE keeps the function's owner and privileges; said again, so this file alone shows them.
revoke all on function authz.append_event(text, jsonb, bigint) from public;

reset role;
