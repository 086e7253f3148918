import type { MemberAdded, MemberLeft, MemberRemoved, MemberRoleChanged, UserSignedUp } from '@bastion/domain';
import type { Projection } from '@bastion/infra/projection/projection';

/**
 * The member list users read. The authoritative membership is `authz.memberships`, written with each event. It
 * keeps its own copy of user profiles (no grant to the API) so a name is always there when its MemberAdded is.
 */
export const orgMembersProjection: Projection = {
  kind: 'projection',
  name: 'org_members',
  handles: ['UserSignedUp', 'MemberAdded', 'MemberRoleChanged', 'MemberRemoved', 'MemberLeft'],
  tables: ['org_members', 'user_profiles'],
  async apply(tx, event) {
    switch (event.type) {
      case 'UserSignedUp': {
        const d = event.data as UserSignedUp['data'];
        await tx.query(
          `insert into user_profiles (user_id, email, display_name) values ($1, $2, $3)
           on conflict (user_id) do update set email = excluded.email, display_name = excluded.display_name`,
          [d.userId, d.email, d.displayName],
        );
        return;
      }
      case 'MemberAdded': {
        const d = event.data as MemberAdded['data'];
        await tx.query(
          `insert into org_members (org_id, user_id, role, display_name, email, joined_at)
           select $1, $2, $3, coalesce(p.display_name, ''), coalesce(p.email, ''), $4
             from (select 1) one left join user_profiles p on p.user_id = $2
           on conflict (org_id, user_id) do update set role = excluded.role`,
          [d.orgId, d.userId, d.role, event.metadata.occurredAt],
        );
        return;
      }
      case 'MemberRoleChanged': {
        const d = event.data as MemberRoleChanged['data'];
        await tx.query('update org_members set role = $3 where org_id = $1 and user_id = $2', [d.orgId, d.userId, d.to]);
        return;
      }
      case 'MemberRemoved':
      case 'MemberLeft': {
        const d = event.data as (MemberRemoved | MemberLeft)['data'];
        await tx.query('delete from org_members where org_id = $1 and user_id = $2', [d.orgId, d.userId]);
        return;
      }
    }
  },
};
