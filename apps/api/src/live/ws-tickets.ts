import { createHash, randomBytes } from 'node:crypto';
import type Redis from 'ioredis';
import type { AuthenticatedPrincipal } from '../auth/principal';

const TICKET_SECONDS = 30;

function key(prefix: string, ticket: string): string {
  return `${prefix}:live:ticket:${createHash('sha256').update(ticket).digest('hex')}`;
}

/**
 * Browsers cannot set an Authorization header on a WebSocket, and a JWT in a query string ends up in logs; so a
 * client trades its access token for a ticket: random, single-use (GETDEL), valid 30 seconds, stored hashed.
 */
export async function issueTicket(redis: Redis, prefix: string, principal: AuthenticatedPrincipal): Promise<{ ticket: string; expiresIn: number }> {
  const ticket = randomBytes(32).toString('base64url');
  await redis.set(key(prefix, ticket), JSON.stringify(principal), 'EX', TICKET_SECONDS);
  return { ticket, expiresIn: TICKET_SECONDS };
}

export async function redeemTicket(redis: Redis, prefix: string, ticket: string): Promise<AuthenticatedPrincipal | null> {
  if (!/^[A-Za-z0-9_-]{43}$/.test(ticket)) return null;
  const value = await redis.getdel(key(prefix, ticket));
  return value ? (JSON.parse(value) as AuthenticatedPrincipal) : null;
}
