import { isIP } from 'node:net';
import type Redis from 'ioredis';

export interface AccountRequestLimits {
  /** Sign-ups from one IP address within the window, whether or not their emails already have accounts. */
  readonly signUpsPerIp: number;
  /** Requests that may email a link (password reset) from one IP address within the window. */
  readonly mailRequestsPerIp: number;
  /** Mails of one kind to one address within the window; beyond it the request is answered as usual, mailing nothing. */
  readonly mailsPerAddress: number;
  readonly windowSeconds: number;
}

export const DEFAULT_ACCOUNT_REQUEST_LIMITS: AccountRequestLimits = {
  signUpsPerIp: 10,
  mailRequestsPerIp: 20,
  mailsPerAddress: 3,
  windowSeconds: 60 * 60,
};

export type RequestGate = { readonly allowed: true } | { readonly allowed: false; readonly retryAfterSeconds: number };

/** What a request mails an address: a password-reset link, or the notice that someone signed up with it. */
export type MailKind = 'password-reset' | 'sign-up';

/**
 * The unauthenticated requests that create accounts or send mail are limited like failed sign-ins (a fixed window
 * per key in Redis, under the process's prefix): per IP address, so one client cannot mass-create accounts or
 * spray reset requests, and per email address, so no one can mail-bomb an inbox through Bastion. Addresses are
 * keyed by the caller's keyed hash of the normalised email, existing or not, so a count says nothing about accounts.
 */
export class AccountRequestLimiter {
  private readonly limits: AccountRequestLimits;
  private readonly uncounted: (ip: string) => boolean;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    options: {
      limits?: AccountRequestLimits;
      /** IP addresses the per-IP limits ignore: only the test environment's loopback (identity.module.ts). */
      uncountedIp?: (ip: string) => boolean;
    } = {},
  ) {
    this.limits = options.limits ?? DEFAULT_ACCOUNT_REQUEST_LIMITS;
    this.uncounted = options.uncountedIp ?? (() => false);
  }

  private key(...parts: string[]): string {
    return [this.prefix, 'account-requests', ...parts].join(':');
  }

  signUpFrom(ip: string): Promise<RequestGate> {
    return this.perIp('signup', ip, this.limits.signUpsPerIp);
  }

  mailRequestFrom(ip: string): Promise<RequestGate> {
    return this.perIp('mail-request', ip, this.limits.mailRequestsPerIp);
  }

  /** Counts one mail of this kind to the address; false once the address has had its share in this window. */
  async mailTo(kind: MailKind, emailHash: string): Promise<boolean> {
    return (await this.hit(this.key('mail', kind, emailHash), this.limits.mailsPerAddress)).allowed;
  }

  private async perIp(scope: string, ip: string, limit: number): Promise<RequestGate> {
    if (this.uncounted(ip)) return { allowed: true };
    return this.hit(this.key(scope, 'ip', ip), limit);
  }

  /** Every request counts, refused ones too; the window starts at the first and is not extended by later ones. */
  private async hit(key: string, limit: number): Promise<RequestGate> {
    const results = (await this.redis.multi().incr(key).expire(key, this.limits.windowSeconds, 'NX').ttl(key).exec()) as [null, number][];
    const count = results[0]![1];
    if (count <= limit) return { allowed: true };
    const ttl = results[2]![1];
    return { allowed: false, retryAfterSeconds: ttl > 0 ? ttl : this.limits.windowSeconds };
  }
}

/** 127.0.0.0/8, ::1, and IPv4-mapped 127.x addresses. */
export function isLoopbackAddress(ip: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  const v4 = mapped ? mapped[1]! : ip;
  if (isIP(v4) === 4) return v4.startsWith('127.');
  return ip === '::1' || ip === '0:0:0:0:0:0:0:1';
}
