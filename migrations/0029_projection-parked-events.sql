-- Events a projection could not apply because of their content, set aside so that the projection goes on
-- (libs/infra/src/projection/projection-runner.ts). Without it one malformed event, which SQL injected into a
-- member's request can append in its own org (the events table checks type, actor, org and permission, not the
-- shape of the data), stopped that projection at its position for every organisation. Only the projector writes
-- and reads it; the API never does. It holds the event's id, the SQLSTATE and the names of the table, column and
-- constraint that refused it: never the event's data (a data exception's message quotes the value it rejected).
-- A rebuild or replay applies every event again, parked ones included, once the projection or the event is fixed.
set local role bastion_owner;

create table projection_parked_events (
  consumer   text        not null,
  event_id   uuid        not null,
  position   text        not null,
  event_type text        not null,
  sqlstate   text        not null,
  refused_by text        not null,
  parked_at  timestamptz not null default now(),
  primary key (consumer, event_id)
);
revoke all on projection_parked_events from public;
grant select, insert on projection_parked_events to bastion_projector;

reset role;
