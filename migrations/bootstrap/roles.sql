-- Cluster-wide roles (DESIGN §4). PostgreSQL roles belong to the cluster, not to a database, so this runs once
-- per server (idempotently, under an advisory lock) before any database is migrated. Passwords are never here:
-- the bootstrap command sets them from the environment when given.

do $$
declare
  spec record;
begin
  for spec in
    select * from (values
      -- NOLOGIN owners: nothing ever connects as them.
      ('bastion_owner',     'NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOINHERIT'),
      ('bastion_authz',     'NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOINHERIT'),
      -- The API: reads and writes only through RLS, owns nothing.
      ('bastion_app',       'LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOINHERIT NOREPLICATION'),
      -- The projector writes read models for every organisation; never used by the API.
      ('bastion_projector', 'LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE BYPASSRLS NOINHERIT NOREPLICATION'),
      -- The worker appends system events and reads the streams its jobs need.
      ('bastion_worker',    'LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOINHERIT NOREPLICATION'),
      -- The sealer extends the audit hash chains; the only role that may write them.
      ('bastion_sealer',    'LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOINHERIT NOREPLICATION')
    ) as t(name, attributes)
  loop
    if not exists (select 1 from pg_roles where rolname = spec.name) then
      execute format('create role %I %s', spec.name, spec.attributes);
    else
      execute format('alter role %I %s', spec.name, spec.attributes);
    end if;
  end loop;
end
$$;

-- A transaction left open anywhere stalls every event subscriber (the xid8 gate is cluster-wide): bound it.
alter role bastion_app set idle_in_transaction_session_timeout = '15s';
alter role bastion_worker set idle_in_transaction_session_timeout = '15s';
alter role bastion_projector set idle_in_transaction_session_timeout = '30s';
alter role bastion_app set statement_timeout = '30s';
alter role bastion_sealer set idle_in_transaction_session_timeout = '30s';
