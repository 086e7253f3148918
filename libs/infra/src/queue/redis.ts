import Redis, { type RedisOptions } from 'ioredis';
import { unreachable } from '../runtime/startup-error';

/**
 * BullMQ needs `maxRetriesPerRequest: null` on the connections its workers block on; queues and health checks
 * share the same options so behaviour does not depend on who opened the connection.
 */
export async function openRedis(url: string, options: RedisOptions = {}): Promise<Redis> {
  const redis = new Redis(url, { maxRetriesPerRequest: null, lazyConnect: true, connectTimeout: 5000, ...options });
  redis.on('error', () => undefined); // reconnects on its own; readiness reports the outage
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    redis.disconnect();
    throw unreachable('Redis', url, error);
  }
  return redis;
}
