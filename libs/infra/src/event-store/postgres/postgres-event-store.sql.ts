/**
 * The adapter's SQL, as named prepared statements: each is parsed and planned once per connection, and an append
 * is one round trip whatever the batch size (DESIGN §3 measured unprepared appends at 0.5–0.7× of prepared ones).
 */
const COLUMNS = 'position, transaction_id, id, stream_id, revision, type, data, metadata';

/*
 * A stream's advisory lock is `pg_advisory_xact_lock(736155203, hashtext(stream))`, taken by every append to a stream
 * that may already exist: here (through event_stream_revision_locked, migration 0024) and in `authz.append_event`
 * (migration 0023), so the definer functions' appends and this adapter's wait for each other instead of failing on
 * (stream_id, revision).
 */

export const APPEND = {
  name: 'bastion_events_append_v3',
  // $1 stream, $2 expectation kind, $3 exact revision (or null), $4 jsonb array of {id, type, data, metadata}.
  // The lock is held to the end of the caller's transaction: a definer append to this stream that starts meanwhile
  // waits for it, then reads the revision this append wrote. The revision is read by event_stream_revision_locked
  // (migration 0024) after the lock, with a snapshot of its own: an append that waited for another appender sees
  // what that one committed, so `any` lands after it even inside a caller's transaction.
  text: `
    with current_rev as (
      select public.event_stream_revision_locked($1) as rev
    ), allowed as (
      select rev from current_rev
      where case $2::text
              when 'any' then true
              when 'no_stream' then rev = -1
              when 'stream_exists' then rev >= 0
              else rev = $3::bigint
            end
    ), inserted as (
      insert into events (id, stream_id, revision, type, org_id, data, metadata)
      select (e.doc ->> 'id')::uuid, $1, a.rev + e.ord, e.doc ->> 'type',
             (e.doc -> 'metadata' ->> 'orgId')::uuid, e.doc -> 'data', e.doc -> 'metadata'
        from allowed a, jsonb_array_elements($4::jsonb) with ordinality as e(doc, ord)
       order by e.ord
      returning revision, position, transaction_id
    )
    select (select rev from current_rev) as current_revision,
           last.revision as last_revision, last.position as last_position, last.transaction_id
      from (select 1) one
      left join lateral (select revision, position, transaction_id from inserted order by revision desc limit 1) last on true`,
};

/**
 * `no_stream`, the common case (every new task, merge request, session…): no read at all. Revisions start at 0 and
 * the (stream_id, revision) unique index refuses a stream that exists. Measured at 0.92–1.05× a plain INSERT at
 * concurrency 32, against about 0.7× for the general statement above (docs/performance.md). No stream lock either:
 * the streams the definer functions append to are created by one of them, never through this statement.
 */
export const APPEND_NEW_STREAM = {
  name: 'bastion_events_append_new_v1',
  text: `
    insert into events (id, stream_id, revision, type, org_id, data, metadata)
    select (e.doc ->> 'id')::uuid, $1, e.ord - 1, e.doc ->> 'type',
           (e.doc -> 'metadata' ->> 'orgId')::uuid, e.doc -> 'data', e.doc -> 'metadata'
      from jsonb_array_elements($2::jsonb) with ordinality as e(doc, ord)
     order by e.ord
    returning revision, position, transaction_id`,
};

export const CURRENT_REVISION = {
  name: 'bastion_events_current_revision_v1',
  text: 'select coalesce((select revision from events where stream_id = $1 order by revision desc limit 1), -1) as rev',
};

export const READ_STREAM = {
  name: 'bastion_events_read_stream_v1',
  text: `select ${COLUMNS} from events where stream_id = $1 and revision >= $2 order by revision`,
};

/**
 * Only transactions that can no longer commit "in the past" are visible: below the oldest transaction still
 * running anywhere on the server. A late committer is delayed, never skipped (DESIGN §3).
 */
export const READ_ALL = {
  name: 'bastion_events_read_all_v1',
  text: `
    select ${COLUMNS} from events
     where (transaction_id, position) > ($1::xid8, $2::bigint)
       and transaction_id < pg_snapshot_xmin(pg_current_snapshot())
     order by transaction_id, position
     limit $3`,
};
