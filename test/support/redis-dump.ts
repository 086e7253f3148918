import Redis from 'ioredis';
import { redisUrl } from './services';

export interface RedisDump {
  /** Every key under the prefix. */
  readonly keys: string[];
  /** Every key, hash field, list, set and sorted-set member, stream entry field and value, and string value, raw. */
  readonly values: string[];
}

/**
 * Everything stored under a Redis prefix (BullMQ's jobs are hashes, its queues lists, sorted sets and streams), for
 * tests that search it for what must never be there. Values are read as UTF-8 and kept raw, not re-encoded.
 */
export async function dumpPrefix(prefix: string): Promise<RedisDump> {
  const redis = new Redis(redisUrl());
  const keys: string[] = [];
  const values: string[] = [];
  try {
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      for (const key of batch) {
        keys.push(key);
        const type = await redis.type(key);
        if (type === 'string') values.push((await redis.get(key)) ?? '');
        else if (type === 'hash') values.push(...Object.entries(await redis.hgetall(key)).flat());
        else if (type === 'list') values.push(...(await redis.lrange(key, 0, -1)));
        else if (type === 'set') values.push(...(await redis.smembers(key)));
        else if (type === 'zset') values.push(...(await redis.zrange(key, 0, -1)));
        else if (type === 'stream') values.push(...(await redis.xrange(key, '-', '+')).flatMap(([id, fields]) => [id, ...fields]));
        else if (type !== 'none') throw new Error(`dumpPrefix: ${key} is a ${type}, which it cannot read`);
      }
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return { keys, values };
}
