import type { Pool } from 'pg';
import type { TestApi } from './api';
import { eventually } from './events';
import { call } from './http';
import { newOrg, type OrgFixture } from './orgs';
import { awayFromStepEdge, oathtool } from './totp';

/** Resolves once the sealer has sealed every stored event of the organisation. */
export async function sealedOrg(admin: Pool, orgId: string): Promise<void> {
  await eventually(async () => {
    const { rows } = await admin.query(
      `select (select count(*) from events where org_id = $1)::int as stored, coalesce((select count from audit.chain_heads where chain = 'org:' || $1), 0)::int as sealed`,
      [orgId],
    );
    return rows[0].stored === rows[0].sealed ? true : undefined;
  }, 20000);
}

/** A new organisation whose admin has just enrolled TOTP: MFA-fresh, as audit exports require. */
export async function mfaFreshAdmin(api: TestApi): Promise<OrgFixture> {
  const org = await newOrg(api);
  const started = await call(api, 'POST', '/v1/auth/mfa/totp/enroll', { token: org.admin.accessToken });
  await awayFromStepEdge();
  await call(api, 'POST', '/v1/auth/mfa/totp/confirm', { token: org.admin.accessToken, body: { code: oathtool(started.body.secret as string) } });
  return org;
}
