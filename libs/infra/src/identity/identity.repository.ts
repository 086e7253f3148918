import type { NewEvent } from '@bastion/domain';
import type { PoolClient } from 'pg';

/**
 * The API's only way into `authz`: each method is one narrow definer function (migrations/0006_identity.sql),
 * called inside the caller's transaction. The functions check the event they are given (type, actor) and append
 * it together with the row they change, so a refused command appends nothing.
 */
export class IdentityRepository {
  constructor(private readonly tx: PoolClient) {}

  private async one<T>(sql: string, values: unknown[]): Promise<T | undefined> {
    const { rows } = await this.tx.query(sql, values);
    return rows[0] as T | undefined;
  }

  async signUp(input: {
    userId: string;
    email: string;
    emailNormalized: string;
    displayName: string;
    passwordHash: string;
    verifyTokenHash: Buffer;
    verifyTokenExpiresAt: Date;
    event: NewEvent;
  }): Promise<boolean> {
    const row = await this.one<{ created: boolean }>('select authz.sign_up($1, $2, $3, $4, $5, $6, $7, $8) as created', [
      input.userId,
      input.email,
      input.emailNormalized,
      input.displayName,
      input.passwordHash,
      input.verifyTokenHash,
      input.verifyTokenExpiresAt,
      input.event,
    ]);
    return row!.created;
  }

  async verifyEmail(tokenHash: Buffer, event: NewEvent): Promise<string | null> {
    const row = await this.one<{ user_id: string | null }>('select authz.verify_email($1, $2) as user_id', [tokenHash, event]);
    return row!.user_id;
  }

  async requestPasswordReset(emailNormalized: string, tokenHash: Buffer, expiresAt: Date, event: NewEvent) {
    return this.one<{ user_id: string; email: string; display_name: string }>(
      'select * from authz.request_password_reset($1, $2, $3, $4)',
      [emailNormalized, tokenHash, expiresAt, event],
    );
  }

  async resetPassword(tokenHash: Buffer, passwordHash: string, event: NewEvent): Promise<string | null> {
    const row = await this.one<{ user_id: string | null }>('select authz.reset_password($1, $2, $3) as user_id', [tokenHash, passwordHash, event]);
    return row!.user_id;
  }

  /** The user a live, unused email token belongs to (to seal their request data before the token is consumed). */
  async emailTokenOwner(tokenHash: Buffer, purpose: 'verify_email' | 'reset_password'): Promise<string | null> {
    const row = await this.one<{ user_id: string | null }>('select authz.email_token_owner($1, $2) as user_id', [tokenHash, purpose]);
    return row?.user_id ?? null;
  }

  async signInLookup(emailNormalized: string) {
    return this.one<{ user_id: string; password_hash: string | null; email_verified: boolean; disabled: boolean }>(
      'select * from authz.sign_in_lookup($1)',
      [emailNormalized],
    );
  }

  async rehashPassword(userId: string, oldHash: string, newHash: string): Promise<boolean> {
    const row = await this.one<{ ok: boolean }>('select authz.rehash_password($1, $2, $3) as ok', [userId, oldHash, newHash]);
    return row!.ok;
  }

  async recordSignInFailure(userId: string | null, event: NewEvent): Promise<void> {
    await this.tx.query('select authz.record_sign_in_failure($1, $2)', [userId, event]);
  }

  async startSession(input: {
    sessionId: string;
    principalType: 'human' | 'agent';
    principalId: string;
    orgId: string | null;
    amr: string[];
    proofHash: Buffer;
    idleExpiresAt: Date;
    absoluteExpiresAt: Date;
    ip: string | null;
    userAgent: string | null;
    event: NewEvent;
  }): Promise<void> {
    await this.tx.query('select authz.start_session($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)', [
      input.sessionId,
      input.principalType,
      input.principalId,
      input.orgId,
      input.amr,
      input.proofHash,
      input.idleExpiresAt,
      input.absoluteExpiresAt,
      input.ip,
      input.userAgent,
      input.event,
    ]);
  }

  async refreshState(sessionId: string) {
    return this.one<{
      principal_type: 'human';
      principal_id: string;
      counter: string;
      grace_until: Date | null;
      revoked: boolean;
      idle_expires_at: Date;
      absolute_expires_at: Date;
      amr: string[];
    }>('select * from authz.refresh_state($1)', [sessionId]);
  }

  async rotateSession(sessionId: string, expectedCounter: number, graceUntil: Date, idleExpiresAt: Date): Promise<boolean> {
    const row = await this.one<{ ok: boolean }>('select authz.rotate_session($1, $2, $3, $4) as ok', [
      sessionId,
      expectedCounter,
      graceUntil,
      idleExpiresAt,
    ]);
    return row!.ok;
  }

  async revokeSession(sessionId: string, reason: string, event: NewEvent): Promise<boolean> {
    const row = await this.one<{ ok: boolean }>('select authz.revoke_session($1, $2, $3) as ok', [sessionId, reason, event]);
    return row!.ok;
  }

  async mySessions() {
    const { rows } = await this.tx.query<{
      id: string;
      created_at: Date;
      rotated_at: Date;
      amr: string[];
      ip: string | null;
      user_agent: string | null;
      current: boolean;
    }>('select * from authz.my_sessions()');
    return rows;
  }

  async revokeMySession(sessionId: string, event: NewEvent): Promise<boolean> {
    const row = await this.one<{ ok: boolean }>('select authz.revoke_my_session($1, $2) as ok', [sessionId, event]);
    return row!.ok;
  }

  async createOrganization(orgId: string, events: NewEvent[]): Promise<void> {
    await this.tx.query('select authz.create_organization($1, $2)', [orgId, JSON.stringify(events)]);
  }

  async createAgent(orgId: string, agentId: string, name: string, event: NewEvent): Promise<void> {
    await this.tx.query('select authz.create_agent($1, $2, $3, $4)', [orgId, agentId, name, event]);
  }

  async issueAgentKey(input: {
    orgId: string;
    agentId: string;
    keyId: string;
    prefix: string;
    keyHash: Buffer;
    expiresAt: Date;
    event: NewEvent;
  }): Promise<boolean> {
    const row = await this.one<{ ok: boolean }>('select authz.issue_agent_key($1, $2, $3, $4, $5, $6, $7) as ok', [
      input.orgId,
      input.agentId,
      input.keyId,
      input.prefix,
      input.keyHash,
      input.expiresAt,
      input.event,
    ]);
    return row!.ok;
  }

  async revokeAgentKey(orgId: string, agentId: string, keyId: string, event: NewEvent): Promise<boolean> {
    const row = await this.one<{ ok: boolean }>('select authz.revoke_agent_key($1, $2, $3, $4) as ok', [orgId, agentId, keyId, event]);
    return row!.ok;
  }

  async agentKeyLookup(prefix: string) {
    return this.one<{ key_id: string; agent_id: string; org_id: string; key_hash: Buffer; usable: boolean }>(
      'select * from authz.agent_key_lookup($1)',
      [prefix],
    );
  }
}
