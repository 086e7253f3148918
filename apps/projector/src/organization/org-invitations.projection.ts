import type { InvitationAccepted, InvitationRevoked, MemberInvited } from '@bastion/domain';
import type { Projection } from '@bastion/infra/projection/projection';

export const orgInvitationsProjection: Projection = {
  kind: 'projection',
  name: 'org_invitations',
  handles: ['MemberInvited', 'InvitationAccepted', 'InvitationRevoked'],
  tables: ['org_invitations'],
  async apply(tx, event) {
    switch (event.type) {
      case 'MemberInvited': {
        const d = event.data as MemberInvited['data'];
        await tx.query(
          `insert into org_invitations (org_id, invitation_id, email, role, invited_by, created_at, status)
           values ($1, $2, $3, $4, $5, $6, 'pending') on conflict do nothing`,
          [d.orgId, d.invitationId, d.email, d.role, event.metadata.actor.id, event.metadata.occurredAt],
        );
        return;
      }
      case 'InvitationAccepted':
      case 'InvitationRevoked': {
        const d = event.data as (InvitationAccepted | InvitationRevoked)['data'];
        await tx.query('update org_invitations set status = $3 where org_id = $1 and invitation_id = $2', [
          d.orgId,
          d.invitationId,
          event.type === 'InvitationAccepted' ? 'accepted' : 'revoked',
        ]);
        return;
      }
    }
  },
};
