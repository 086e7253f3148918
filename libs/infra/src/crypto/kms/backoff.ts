/**
 * Exponential backoff with jitter for transient KMS failures. Jitter spreads the retries of many processes that
 * failed together (one KMS blip hits every pod at once) so they do not come back in lockstep.
 */
export interface RetryPolicy {
  /** Attempts in all, the first included; at least 1. */
  readonly maxAttempts: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 4, initialDelayMs: 100, maxDelayMs: 2_000 };

/**
 * The wait before retry number `retry` (1 for the first retry): a ceiling that doubles each time up to
 * `maxDelayMs`, and a uniformly random wait between half the ceiling and the ceiling ("equal jitter"), so a retry
 * never comes back at once but two processes rarely come back together. `random` returns [0, 1).
 */
export function backoffDelayMs(retry: number, policy: RetryPolicy, random: () => number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** (retry - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

export function assertRetryPolicy(policy: RetryPolicy): void {
  if (!Number.isInteger(policy.maxAttempts) || policy.maxAttempts < 1) throw new RangeError('maxAttempts must be a whole number ≥ 1');
  if (!(policy.initialDelayMs >= 0) || !(policy.maxDelayMs >= policy.initialDelayMs)) {
    throw new RangeError('delays must satisfy 0 ≤ initialDelayMs ≤ maxDelayMs');
  }
}
