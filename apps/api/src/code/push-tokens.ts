import { createHash, randomBytes } from 'node:crypto';
import type Redis from 'ioredis';
import type { AuthenticatedPrincipal } from '../auth/principal';

export interface PushGrant {
  readonly principal: AuthenticatedPrincipal;
  readonly orgId: string;
  readonly repoId: string;
}

const key = (prefix: string, token: string) => `${prefix}:git:push:${createHash('sha256').update(token).digest('hex')}`;

/** A one-time token minted for one push, for the pre-receive hook to ask with (5 minutes, stored hashed). */
export async function mintPushToken(redis: Redis, prefix: string, grant: PushGrant): Promise<string> {
  const token = randomBytes(32).toString('base64url');
  await redis.set(key(prefix, token), JSON.stringify(grant), 'EX', 300);
  return token;
}

/** Single use: the hook asks once per push. */
export async function redeemPushToken(redis: Redis, prefix: string, token: string): Promise<PushGrant | null> {
  if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return null;
  const value = await redis.getdel(key(prefix, token));
  return value ? (JSON.parse(value) as PushGrant) : null;
}
