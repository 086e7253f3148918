import type { AgentCreated, AgentKeyIssued, AgentKeyRevoked } from '@bastion/domain';
import type { Projection } from '@bastion/infra/projection/projection';

export const agentsProjection: Projection = {
  kind: 'projection',
  name: 'agents',
  handles: ['AgentCreated', 'AgentKeyIssued', 'AgentKeyRevoked'],
  tables: ['agents'],
  async apply(tx, event) {
    switch (event.type) {
      case 'AgentCreated': {
        const d = event.data as AgentCreated['data'];
        await tx.query(
          `insert into agents (org_id, agent_id, name, created_by, created_at) values ($1, $2, $3, $4, $5)
           on conflict do nothing`,
          [d.orgId, d.agentId, d.name, event.metadata.actor.id, event.metadata.occurredAt],
        );
        return;
      }
      case 'AgentKeyIssued':
      case 'AgentKeyRevoked': {
        const d = event.data as (AgentKeyIssued | AgentKeyRevoked)['data'];
        await tx.query('update agents set active_keys = greatest(0, active_keys + $3) where org_id = $1 and agent_id = $2', [
          d.orgId,
          d.agentId,
          event.type === 'AgentKeyIssued' ? 1 : -1,
        ]);
        return;
      }
    }
  },
};
