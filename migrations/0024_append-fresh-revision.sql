-- The event-store adapter's general append reads the stream's revision after it holds the stream lock.
--
-- Since migration 0023 the adapter's general append (`bastion_events_append_v2`, postgres-event-store.sql.ts) takes the
-- stream's advisory lock before it reads the last revision. But the lock was taken inside the same statement as the
-- read, and a statement reads as of its start: an append that waited for another appender's commit still read the
-- revision from before that commit and lost on the (stream_id, revision) unique index. Outside a transaction the
-- adapter retried `any`; inside one (a request's transaction, where the failed statement has aborted everything) it
-- could only answer 409 to an append that expects nothing.
--
-- This function takes the lock and then reads the revision in a statement of its own. It is VOLATILE, so under READ
-- COMMITTED (every Bastion transaction) that read takes a new snapshot, after the lock: it sees whatever the previous
-- holder committed. SECURITY INVOKER on purpose: the caller's privileges and row-level policies apply to the read,
-- as they did to the read it replaces.
set local role bastion_owner;

create function public.event_stream_revision_locked(p_stream text) returns bigint
language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
begin
  perform pg_advisory_xact_lock(736155203, hashtext(p_stream));
  return coalesce((select e.revision from public.events e where e.stream_id = p_stream order by e.revision desc limit 1), -1);
end
$$;

revoke all on function public.event_stream_revision_locked(text) from public;
grant execute on function public.event_stream_revision_locked(text) to bastion_app, bastion_projector, bastion_worker, bastion_sealer;

reset role;
