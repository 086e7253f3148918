-- Projection checkpoints: each projection's handler and a compare-and-set of its row commit together.
set local role bastion_owner;

create table projection_checkpoints (
  name        text primary key,
  -- Opaque event-store position (see event-store.port.ts); null means "from the start".
  position    text,
  events_seen bigint      not null default 0,
  updated_at  timestamptz not null default now()
);
revoke all on projection_checkpoints from public;
grant select, insert, update, delete on projection_checkpoints to bastion_projector;
