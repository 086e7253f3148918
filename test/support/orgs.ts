import type { OrgRole } from '../../libs/domain/src/authorization/permissions';
import type { TestApi } from './api';
import { call } from './http';
import { newUser, type SignedIn } from './identity';
import { awayFromStepEdge, oathtool } from './totp';

const STEP_UP_REQUIRED = 'urn:bastion:problem:step-up-required';

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

/** The TOTP secret `stepUp` enrolled for each user (by id), and the last time step it used: each step counts once. */
const enrolled = new Map<string, { secret: string; lastStep: number }>();

/**
 * A fresh MFA verification on the user's session, through the API as a person would do it: the first time by enrolling
 * TOTP (confirming an enrolment verifies MFA on the session), later by `POST /v1/auth/mfa/step-up` with a code of an
 * unused time step. After the first call the user's password sign-ins answer with an MFA challenge. A user enrolled
 * by other means must already be MFA-fresh: this helper does not know their secret.
 */
export async function stepUp(api: TestApi, user: SignedIn): Promise<void> {
  const known = enrolled.get(user.userId);
  if (!known) {
    const started = await call(api, 'POST', '/v1/auth/mfa/totp/enroll', { token: user.accessToken });
    if (started.status !== 201) throw new Error(`TOTP enrolment failed: ${started.status} ${JSON.stringify(started.body)}`);
    const secret = started.body.secret as string;
    await awayFromStepEdge();
    const step = Math.floor(Date.now() / 30_000);
    const confirmed = await call(api, 'POST', '/v1/auth/mfa/totp/confirm', { token: user.accessToken, body: { code: oathtool(secret) } });
    if (confirmed.status !== 200) throw new Error(`TOTP confirmation failed: ${confirmed.status} ${JSON.stringify(confirmed.body)}`);
    enrolled.set(user.userId, { secret, lastStep: step });
    return;
  }
  // The server accepts the current step and its neighbours, each once: use the next one not used yet.
  for (;;) {
    await awayFromStepEdge();
    const now = Math.floor(Date.now() / 30_000);
    const step = Math.max(now, known.lastStep + 1);
    if (step <= now + 1) {
      const stepped = await call(api, 'POST', '/v1/auth/mfa/step-up', { token: user.accessToken, body: { code: oathtool(known.secret, (step - now) * 30) } });
      if (stepped.status !== 204) throw new Error(`step-up failed: ${stepped.status} ${JSON.stringify(stepped.body)}`);
      known.lastStep = step;
      return;
    }
    await new Promise((r) => setTimeout(r, 30_000 - (Date.now() % 30_000) + 100));
  }
}

/**
 * A new user who joined `org` with `role` through a real invitation. Inviting an Admin needs step-up MFA: when the
 * org's admin session is not MFA-fresh, this steps it up first (see `stepUp`: the admin is then enrolled in TOTP).
 */
export async function addMember(api: TestApi, org: OrgFixture, role: OrgRole, user?: SignedIn): Promise<SignedIn> {
  const member = user ?? (await newUser(api));
  const invite = () => call(api, 'POST', `/v1/orgs/${org.orgId}/invitations`, { token: org.admin.accessToken, body: { email: member.email, role } });
  let invited = await invite();
  if (role === 'admin' && invited.status === 403 && invited.body.type === STEP_UP_REQUIRED) {
    await stepUp(api, org.admin);
    invited = await invite();
  }
  if (invited.status !== 201) throw new Error(`invitation failed: ${invited.status} ${JSON.stringify(invited.body)}`);
  const accepted = await call(api, 'POST', `/v1/invitations/${invited.body.token}/accept`, { token: member.accessToken });
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
