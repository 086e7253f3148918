-- Audit exports written to files by the worker (issue #7). The worker reads the chain it exports (links and the
-- sealer's checkpoints; it can change none of them) and records each export's outcome as a system event.
grant usage on schema audit to bastion_worker;
grant select on audit.chain_links, audit.checkpoints to bastion_worker;
create policy chain_links_worker_read on audit.chain_links for select to bastion_worker using (true);
create policy checkpoints_worker_read on audit.checkpoints for select to bastion_worker using (true);

set local role bastion_authz;
insert into authz.event_authority (type, human, agent) values
  ('AuditExportCompleted', 'system', null),
  ('AuditExportFailed', 'system', null),
  -- bastion erase-person (migration 0018): only the operator's CLI records it.
  ('PersonErased', 'system', null);
reset role;
