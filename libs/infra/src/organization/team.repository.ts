import type { NewEvent } from '@bastion/domain';
import type { PoolClient } from 'pg';

/** Team management through the narrow definer functions of migrations/0007_authorization.sql. */
export class TeamRepository {
  constructor(private readonly tx: PoolClient) {}

  async invite(input: {
    orgId: string;
    invitationId: string;
    email: string;
    emailNormalized: string;
    role: string;
    tokenHash: Buffer;
    expiresAt: Date;
    event: NewEvent;
  }): Promise<void> {
    await this.tx.query('select authz.invite_member($1, $2, $3, $4, $5, $6, $7, $8)', [
      input.orgId,
      input.invitationId,
      input.email,
      input.emailNormalized,
      input.role,
      input.tokenHash,
      input.expiresAt,
      input.event,
    ]);
  }

  async revokeInvitation(orgId: string, invitationId: string, event: NewEvent): Promise<boolean> {
    const { rows } = await this.tx.query<{ ok: boolean }>('select authz.revoke_invitation($1, $2, $3) as ok', [orgId, invitationId, event]);
    return rows[0]!.ok;
  }

  async acceptInvitation(tokenHash: Buffer, events: NewEvent[]): Promise<string | null> {
    const { rows } = await this.tx.query<{ org_id: string | null }>('select authz.accept_invitation($1, $2) as org_id', [
      tokenHash,
      JSON.stringify(events),
    ]);
    return rows[0]!.org_id;
  }

  async changeRole(orgId: string, userId: string, role: string, event: NewEvent): Promise<boolean> {
    const { rows } = await this.tx.query<{ ok: boolean }>('select authz.change_member_role($1, $2, $3, $4) as ok', [orgId, userId, role, event]);
    return rows[0]!.ok;
  }

  async remove(orgId: string, userId: string, event: NewEvent): Promise<boolean> {
    const { rows } = await this.tx.query<{ ok: boolean }>('select authz.remove_member($1, $2, $3) as ok', [orgId, userId, event]);
    return rows[0]!.ok;
  }
}
