import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { loadServerSecrets } from '../../libs/infra/src/crypto/server-secrets';
import type { SessionCredentials } from '../../libs/infra/src/database/with-principal';
import { sessionProof } from '../../libs/infra/src/identity/session-proof';
import type { TestApi } from './api';
import { call, decodeJwt, refreshCookie, tokenFromMail } from './http';

export const STRONG_PASSWORD = 'correct horse battery staple 42';

export interface SignedIn {
  readonly userId: string;
  readonly email: string;
  readonly accessToken: string;
  readonly cookie: string;
}

export async function signUp(api: TestApi, options: { verify?: boolean; email?: string } = {}): Promise<{ userId: string; email: string }> {
  const email = options.email ?? `user-${randomUUID()}@example.com`;
  const reply = await call(api, 'POST', '/v1/auth/signup', { body: { email, password: STRONG_PASSWORD, displayName: 'Test User' } });
  if (reply.status !== 201) throw new Error(`sign-up failed: ${reply.status} ${JSON.stringify(reply.body)}`);
  if (options.verify !== false) {
    const token = tokenFromMail(api.mailDir, email, 'Verification token');
    const verified = await call(api, 'POST', '/v1/auth/email/verify', { body: { token } });
    if (verified.status !== 204) throw new Error(`verification failed: ${verified.status}`);
  }
  return { userId: reply.body.id as string, email };
}

export async function signIn(api: TestApi, email: string, password = STRONG_PASSWORD): Promise<{ accessToken: string; cookie: string }> {
  const reply = await call(api, 'POST', '/v1/auth/password', { body: { email, password } });
  if (reply.status !== 200) throw new Error(`sign-in failed: ${reply.status} ${JSON.stringify(reply.body)}`);
  return { accessToken: reply.body.accessToken as string, cookie: refreshCookie(reply)! };
}

export async function newUser(api: TestApi): Promise<SignedIn> {
  const { userId, email } = await signUp(api);
  return { userId, email, ...(await signIn(api, email)) };
}

/** What the API presents to `authz.begin` for the session of `accessToken`: its id and the proof the API derives. */
export function sessionCredentials(api: TestApi, accessToken: string): SessionCredentials {
  const secrets = loadServerSecrets({ NODE_ENV: 'test' }, join(api.keysDir, 'server-secret'));
  const sessionId = decodeJwt(accessToken).payload.sid as string;
  return { sessionId, proof: sessionProof(secrets.sessionProofKey, sessionId) };
}
