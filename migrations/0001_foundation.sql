-- The schema every later migration builds on. Objects belong to the NOLOGIN owner, never to a login role.
revoke all on schema public from public;
alter schema public owner to bastion_owner;
grant usage on schema public to bastion_app, bastion_projector, bastion_worker;

do $$
begin
  execute format('revoke all on database %I from public', current_database());
  execute format('grant connect, temporary on database %I to bastion_app, bastion_projector, bastion_worker', current_database());
end
$$;
