import type { OrgRole } from '../../libs/domain/src/authorization/permissions';
import type { TestApi } from './api';
import { call } from './http';
import { newUser, type SignedIn } from './identity';

export interface OrgFixture {
  readonly orgId: string;
  readonly admin: SignedIn;
}

export async function newOrg(api: TestApi, name = 'Org'): Promise<OrgFixture> {
  const admin = await newUser(api);
  const reply = await call(api, 'POST', '/v1/orgs', { token: admin.accessToken, body: { name } });
  if (reply.status !== 201) throw new Error(`org creation failed: ${reply.status}`);
  return { orgId: reply.body.id as string, admin };
}

/** A new user who joined `org` with `role` through a real invitation. */
export async function addMember(api: TestApi, org: OrgFixture, role: OrgRole, user?: SignedIn): Promise<SignedIn> {
  const member = user ?? (await newUser(api));
  const invite = await call(api, 'POST', `/v1/orgs/${org.orgId}/invitations`, { token: org.admin.accessToken, body: { email: member.email, role } });
  if (invite.status !== 201) throw new Error(`invitation failed: ${invite.status} ${JSON.stringify(invite.body)}`);
  const accepted = await call(api, 'POST', `/v1/invitations/${invite.body.token}/accept`, { token: member.accessToken });
  if (accepted.status !== 200) throw new Error(`acceptance failed: ${accepted.status} ${JSON.stringify(accepted.body)}`);
  return member;
}

/** An agent of `org` with a key, signed in: its access token. */
export async function newAgent(api: TestApi, org: OrgFixture, name = 'bot'): Promise<{ agentId: string; token: string }> {
  const agentId = (await call(api, 'POST', `/v1/orgs/${org.orgId}/agents`, { token: org.admin.accessToken, body: { name } })).body.id as string;
  const key = (await call(api, 'POST', `/v1/orgs/${org.orgId}/agents/${agentId}/keys`, { token: org.admin.accessToken, body: {} })).body.key;
  const token = (await call(api, 'POST', '/v1/auth/agent-token', { body: { apiKey: key } })).body.accessToken as string;
  return { agentId, token };
}
