import type { OrganizationCreated } from '@bastion/domain';
import type { Projection } from '@bastion/infra/projection/projection';

/** The `organizations` read model: one row per organisation. */
export const organizationsProjection: Projection = {
  kind: 'projection',
  name: 'organizations',
  handles: ['OrganizationCreated', 'OrganizationProvisioned'],
  tables: ['organizations'],
  async apply(tx, event) {
    switch (event.type) {
      case 'OrganizationCreated': {
        const data = event.data as OrganizationCreated['data'];
        await tx.query(
          `insert into organizations (org_id, name, created_by, provider_id, created_at)
           values ($1, $2, $3, $4, $5) on conflict (org_id) do nothing`,
          [data.orgId, data.name, data.createdBy, data.providerId, event.metadata.occurredAt],
        );
        return;
      }
      case 'OrganizationProvisioned':
        await tx.query('update organizations set provisioned_at = $2 where org_id = $1', [
          event.data.orgId,
          event.metadata.occurredAt,
        ]);
        return;
    }
  },
};
