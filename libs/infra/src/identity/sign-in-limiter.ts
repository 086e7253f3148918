import type Redis from 'ioredis';

export interface SignInLimits {
  /** Failed attempts on one account within the window before it locks. */
  readonly accountFailures: number;
  /** Failed attempts from one IP address within the window before it is refused. */
  readonly ipFailures: number;
  readonly windowSeconds: number;
  /** The first lock lasts this long; each further lock within a day doubles it, up to `maxLockSeconds`. */
  readonly baseLockSeconds: number;
  readonly maxLockSeconds: number;
}

export const DEFAULT_SIGN_IN_LIMITS: SignInLimits = {
  accountFailures: 10,
  ipFailures: 50,
  windowSeconds: 15 * 60,
  baseLockSeconds: 15 * 60,
  maxLockSeconds: 24 * 60 * 60,
};

export type SignInGate =
  | { readonly allowed: true }
  | {
      readonly allowed: false;
      readonly scope: 'account' | 'ip';
      readonly retryAfterSeconds: number;
      /** True for the first refusal of this burst: the caller schedules the one `SignInThrottled` record. */
      readonly firstOfBurst: boolean;
    };

/**
 * Failed sign-ins are limited per account and per IP *before* they are recorded (DESIGN §5): within the limit each
 * failure is an event; beyond it, attempts are refused without checking the password, and the whole burst becomes
 * one `SignInThrottled` event with a count, so credential stuffing cannot flood the immutable log. Accounts are
 * keyed by the hash of the normalised email, existing or not, so a lock reveals nothing about existence.
 */
export class SignInLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly limits: SignInLimits = DEFAULT_SIGN_IN_LIMITS,
  ) {}

  private key(...parts: string[]): string {
    return [this.prefix, 'signin', ...parts].join(':');
  }

  async check(emailHash: string, ip: string): Promise<SignInGate> {
    const [lockTtl, ipFailures, ipTtl] = await Promise.all([
      this.redis.ttl(this.key('lock', emailHash)),
      this.redis.get(this.key('fail-ip', ip)),
      this.redis.ttl(this.key('fail-ip', ip)),
    ]);
    if (lockTtl > 0) return this.refuse('account', emailHash, lockTtl);
    if (Number(ipFailures ?? 0) >= this.limits.ipFailures) return this.refuse('ip', ip, Math.max(ipTtl, 1));
    return { allowed: true };
  }

  private async refuse(scope: 'account' | 'ip', subject: string, retryAfterSeconds: number): Promise<SignInGate> {
    const counter = this.key('throttled', scope, subject);
    const [[, count]] = (await this.redis.multi().incr(counter).expire(counter, retryAfterSeconds + 3600).exec()) as [[null, number]];
    return { allowed: false, scope, retryAfterSeconds, firstOfBurst: count === 1 };
  }

  /** Counts a failure; returns the lock's length when this failure locked the account. */
  async recordFailure(emailHash: string, ip: string): Promise<{ lockedForSeconds: number | null }> {
    const account = this.key('fail', emailHash);
    const byIp = this.key('fail-ip', ip);
    const results = (await this.redis
      .multi()
      .incr(account)
      .expire(account, this.limits.windowSeconds, 'NX')
      .incr(byIp)
      .expire(byIp, this.limits.windowSeconds, 'NX')
      .exec()) as [null, number][];
    const accountFailures = results[0]![1];
    if (accountFailures < this.limits.accountFailures) return { lockedForSeconds: null };
    const locks = this.key('locks', emailHash);
    const [[, lockCount]] = (await this.redis.multi().incr(locks).expire(locks, 24 * 3600).exec()) as [[null, number]];
    const seconds = Math.min(this.limits.baseLockSeconds * 2 ** (lockCount - 1), this.limits.maxLockSeconds);
    await this.redis.multi().set(this.key('lock', emailHash), '1', 'EX', seconds).del(account).exec();
    return { lockedForSeconds: seconds };
  }

  async recordSuccess(emailHash: string): Promise<void> {
    await this.redis.del(this.key('fail', emailHash));
  }

  /** The refused attempts of a burst, read once (by the job that records `SignInThrottled`). */
  async takeThrottledCount(scope: 'account' | 'ip', subject: string): Promise<number> {
    const value = await this.redis.getdel(this.key('throttled', scope, subject));
    return Number(value ?? 0);
  }
}
