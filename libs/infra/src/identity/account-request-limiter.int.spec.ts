import Redis from 'ioredis';
import { dropPrefix, redisPrefix } from '../../../../test/support/redis';
import { redisUrl } from '../../../../test/support/services';
import { AccountRequestLimiter, isLoopbackAddress } from './account-request-limiter';

let redis: Redis;
const prefix = redisPrefix('account-requests');

beforeAll(() => {
  redis = new Redis(redisUrl());
});
afterAll(async () => {
  redis.disconnect();
  await dropPrefix(prefix);
});

const limits = { signUpsPerIp: 2, mailRequestsPerIp: 3, mailsPerAddress: 1, windowSeconds: 60 };

describe('account request limits', () => {
  it('refuses past the limit with the time left in the window, which refused requests do not extend', async () => {
    const limiter = new AccountRequestLimiter(redis, prefix, { limits });
    expect(await limiter.signUpFrom('192.0.2.1')).toEqual({ allowed: true });
    expect(await limiter.signUpFrom('192.0.2.1')).toEqual({ allowed: true });
    const refused = await limiter.signUpFrom('192.0.2.1');
    expect(refused).toEqual({ allowed: false, retryAfterSeconds: expect.any(Number) });
    expect(refused.allowed === false && refused.retryAfterSeconds).toBeGreaterThan(55);
    expect(await redis.ttl(`${prefix}:account-requests:signup:ip:192.0.2.1`)).toBeLessThanOrEqual(60);
    // Each kind of request and each address has a count of its own.
    expect(await limiter.signUpFrom('192.0.2.2')).toEqual({ allowed: true });
    expect(await limiter.mailRequestFrom('192.0.2.1')).toEqual({ allowed: true });
  });

  it('an address gets one share of each kind of mail: a reset link does not use up the sign-up notice', async () => {
    const limiter = new AccountRequestLimiter(redis, prefix, { limits });
    expect(await limiter.mailTo('password-reset', 'aa11')).toBe(true);
    expect(await limiter.mailTo('password-reset', 'aa11')).toBe(false);
    expect(await limiter.mailTo('sign-up', 'aa11')).toBe(true);
    expect(await limiter.mailTo('password-reset', 'bb22')).toBe(true);
  });

  it('uncounted addresses (the test environment’s loopback only) pass the per-IP limits but not the per-address mail limits', async () => {
    const limiter = new AccountRequestLimiter(redis, prefix, { limits, uncountedIp: isLoopbackAddress });
    for (let i = 0; i < 5; i += 1) expect(await limiter.signUpFrom('127.0.0.1')).toEqual({ allowed: true });
    expect(await limiter.mailTo('sign-up', 'cc33')).toBe(true);
    expect(await limiter.mailTo('sign-up', 'cc33')).toBe(false);
    expect((await Promise.all(['192.0.2.9', '192.0.2.9', '192.0.2.9'].map((ip) => limiter.signUpFrom(ip)))).map((g) => g.allowed)).toEqual([true, true, false]);
  });

  it.each([
    ['127.0.0.1', true],
    ['127.10.0.3', true],
    ['::1', true],
    ['::ffff:127.0.0.1', true],
    ['10.0.0.1', false],
    ['128.0.0.1', false],
    ['::ffff:10.0.0.1', false],
    ['2001:db8::1', false],
    ['unknown', false],
  ])('%s is loopback: %s', (ip, loopback) => {
    expect(isLoopbackAddress(ip)).toBe(loopback);
  });
});
