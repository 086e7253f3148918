import Redis from 'ioredis';
import { randomBytes } from 'node:crypto';
import { redisUrl } from './services';

/** Every key and channel of a test carries this run's prefix; `dropPrefix` removes them afterwards. */
export function redisPrefix(label: string): string {
  return `bastion-test:${process.env.BASTION_TEST_RUN_ID}:${label}:${randomBytes(3).toString('hex')}`;
}

export async function dropPrefix(prefix: string): Promise<void> {
  const redis = new Redis(redisUrl());
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      if (keys.length) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
