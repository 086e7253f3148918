import type { KeyDirectory } from './key-directory';
import { generateSigningKey, isPublished, maySign, withRetirement } from './signing-keys';
import { DEFAULT_PUBLISH_LEAD_SECONDS } from './token-policy';

export interface RotateSigningKeysOptions {
  /**
   * How long the next key is published before it signs. Downstream verifiers that cache the JWKS must refresh
   * within it, and so must our own processes reload the key directory; otherwise they meet a `kid` they do not have.
   */
  publishLeadSeconds?: number;
}

export interface KeyRotationSummary {
  added: string[];
  /** When the added key starts signing, and the keys it replaces stop. */
  signsFrom: Date;
  retired: string[];
  removed: string[];
}

/**
 * `bastion keys rotate`: publishes a next key that signs from `now + publishLeadSeconds`, retires every other key
 * at that instant, and deletes the files of keys no longer published (retired longer ago than the longest token
 * lifetime plus clock tolerance), whose tokens have all expired.
 */
export async function rotateSigningKeys(
  directory: KeyDirectory,
  now: Date,
  { publishLeadSeconds = DEFAULT_PUBLISH_LEAD_SECONDS }: RotateSigningKeysOptions = {},
): Promise<KeyRotationSummary> {
  if (!Number.isInteger(publishLeadSeconds) || publishLeadSeconds < 0) {
    throw new RangeError('publishLeadSeconds must be a whole number of seconds, zero or more');
  }
  const keys = await directory.load();
  // With nothing able to sign there is no hand-over to protect, and waiting would leave sign-in without a key.
  const handOver = keys.some((key) => maySign(key, now));
  const signsFrom = new Date(now.getTime() + (handOver ? publishLeadSeconds * 1000 : 0));

  // Written first, so the key is published for the whole lead even if the rest of the rotation fails.
  const next = await generateSigningKey(now, signsFrom);
  await directory.write(next);

  const retired: string[] = [];
  const removed: string[] = [];
  for (const key of keys) {
    if (!isPublished(key, now)) {
      await directory.remove(key.kid);
      removed.push(key.kid);
    } else if (key.retiredAt === undefined || key.retiredAt.getTime() > signsFrom.getTime()) {
      // A key still waiting for its own `signsFrom` from an earlier rotation is superseded too.
      await directory.write(withRetirement(key, signsFrom));
      retired.push(key.kid);
    }
  }
  return { added: [next.kid], signsFrom, retired, removed };
}
