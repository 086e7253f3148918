import type { NewEvent } from '@bastion/domain';
import type { PoolClient } from 'pg';

/** MFA state through the definer functions of migrations/0009_mfa.sql. */
export class MfaRepository {
  constructor(private readonly tx: PoolClient) {}

  async beginEnrolment(secretToken: string): Promise<void> {
    await this.tx.query('select authz.mfa_begin_enrolment($1)', [secretToken]);
  }

  async myCredential() {
    const { rows } = await this.tx.query<{ secret_token: string; status: 'pending' | 'active'; last_used_step: string | null }>(
      'select * from authz.mfa_my_credential()',
    );
    return rows[0];
  }

  async credentialForChallenge(userId: string) {
    const { rows } = await this.tx.query<{ secret_token: string; last_used_step: string | null }>(
      'select * from authz.mfa_credential_for_challenge($1)',
      [userId],
    );
    return rows[0];
  }

  async consumeStep(userId: string, step: number): Promise<boolean> {
    const { rows } = await this.tx.query<{ ok: boolean }>('select authz.mfa_consume_step($1, $2) as ok', [userId, step]);
    return rows[0]!.ok;
  }

  async confirm(step: number, codeHashes: Buffer[], event: NewEvent): Promise<boolean> {
    const { rows } = await this.tx.query<{ ok: boolean }>('select authz.mfa_confirm($1, $2, $3) as ok', [step, codeHashes, event]);
    return rows[0]!.ok;
  }

  async useRecoveryCode(userId: string, codeHash: Buffer): Promise<boolean> {
    const { rows } = await this.tx.query<{ ok: boolean }>('select authz.mfa_use_recovery_code($1, $2) as ok', [userId, codeHash]);
    return rows[0]!.ok;
  }

  async stepUp(step: number, event: NewEvent): Promise<boolean> {
    const { rows } = await this.tx.query<{ ok: boolean }>('select authz.mfa_step_up($1, $2) as ok', [step, event]);
    return rows[0]!.ok;
  }

  async disable(event: NewEvent): Promise<boolean> {
    const { rows } = await this.tx.query<{ ok: boolean }>('select authz.mfa_disable($1) as ok', [event]);
    return rows[0]!.ok;
  }

  async resetMember(orgId: string, userId: string, event: NewEvent): Promise<boolean> {
    const { rows } = await this.tx.query<{ ok: boolean }>('select authz.mfa_reset_member($1, $2, $3) as ok', [orgId, userId, event]);
    return rows[0]!.ok;
  }

  async record(userId: string, event: NewEvent): Promise<void> {
    await this.tx.query('select authz.record_mfa_event($1, $2)', [userId, event]);
  }

  async setOrgSecurity(orgId: string, mfaRequired: boolean, event: NewEvent): Promise<void> {
    await this.tx.query('select authz.set_org_security($1, $2, $3)', [orgId, mfaRequired, event]);
  }

  async hasActiveTotp(userId: string): Promise<boolean> {
    const { rows } = await this.tx.query<{ ok: boolean }>('select authz.has_active_totp($1) as ok', [userId]);
    return rows[0]!.ok;
  }
}
