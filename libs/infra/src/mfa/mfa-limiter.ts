import type Redis from 'ioredis';

/**
 * MFA attempts per user: 5 failures within 15 minutes lock verification for 15 minutes, doubling per lock within a
 * day (a 6-digit code has a million values; at most a handful of guesses per lock period).
 */
export class MfaLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly limit = 5,
    private readonly windowSeconds = 900,
    private readonly baseLockSeconds = 900,
  ) {}

  private key(...parts: string[]) {
    return [this.prefix, 'mfa', ...parts].join(':');
  }

  /** Seconds left on a lock, or 0. */
  async lockedFor(userId: string): Promise<number> {
    return Math.max(0, await this.redis.ttl(this.key('lock', userId)));
  }

  /** Counts a failure; returns the lock's length when this failure locked the user. */
  async fail(userId: string): Promise<number | null> {
    const counter = this.key('fail', userId);
    const [[, count]] = (await this.redis.multi().incr(counter).expire(counter, this.windowSeconds, 'NX').exec()) as [[null, number]];
    if (count < this.limit) return null;
    const locks = this.key('locks', userId);
    const [[, lockCount]] = (await this.redis.multi().incr(locks).expire(locks, 86_400).exec()) as [[null, number]];
    const seconds = Math.min(this.baseLockSeconds * 2 ** (lockCount - 1), 86_400);
    await this.redis.multi().set(this.key('lock', userId), '1', 'EX', seconds).del(counter).exec();
    return seconds;
  }

  async succeed(userId: string): Promise<void> {
    await this.redis.del(this.key('fail', userId));
  }
}
