import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Agent API keys: `bst_ak_<prefix>_<secret>`. The prefix is public and unique (how a leaked key is recognised and
 * looked up); the secret is 32 random bytes, stored only as HMAC-SHA256 under a server key, so a database dump
 * yields nothing usable. Shown once, at issue.
 */
export const AGENT_KEY_PATTERN = /^bst_ak_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/;

export interface IssuedAgentKey {
  readonly key: string;
  readonly prefix: string;
  readonly hash: Buffer;
}

export function hashAgentKeySecret(serverKey: Buffer, secret: string): Buffer {
  return createHmac('sha256', serverKey).update(secret).digest();
}

export function generateAgentKey(serverKey: Buffer): IssuedAgentKey {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const prefix = Array.from(randomBytes(12), (b) => alphabet[b % 36]).join('');
  const secret = randomBytes(32).toString('base64url');
  return { key: `bst_ak_${prefix}_${secret}`, prefix, hash: hashAgentKeySecret(serverKey, secret) };
}

export function parseAgentKey(key: string): { prefix: string; secret: string } | null {
  const match = AGENT_KEY_PATTERN.exec(key);
  return match ? { prefix: match[1]!, secret: match[2]! } : null;
}

export function agentKeyMatches(serverKey: Buffer, secret: string, storedHash: Buffer): boolean {
  const computed = hashAgentKeySecret(serverKey, secret);
  return computed.length === storedHash.length && timingSafeEqual(computed, storedHash);
}
