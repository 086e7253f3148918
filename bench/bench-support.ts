import { readFileSync } from 'node:fs';
import Redis from 'ioredis';
import { Client } from 'pg';

/** One connection for `fn`, closed after. */
export async function withClient<T>(url: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** The server settings a reader needs to compare runs. */
export async function serverFacts(adminUrl: string): Promise<string> {
  return withClient(adminUrl, async (c) => {
    const { rows } = await c.query<Record<string, string>>(
      `select current_setting('server_version') as v, current_setting('shared_buffers') as sb,
              current_setting('synchronous_commit') as sc, current_setting('fsync') as fsync, current_setting('jit') as jit`,
    );
    const r = rows[0]!;
    return `PostgreSQL ${r.v} (shared_buffers=${r.sb}, synchronous_commit=${r.sc}, fsync=${r.fsync}, jit=${r.jit})`;
  });
}

/** Deletes every Redis key of a run's prefix. */
export async function dropRedisPrefix(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl);
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

/**
 * CPU time a process has spent on the CPU so far, ms, from /proc/<pid>/schedstat (nanoseconds; Linux). Undefined
 * when it cannot be read: another machine's process, one that has gone, or no /proc.
 */
export function processCpuMs(pid: number | string): number | undefined {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return undefined;
  }
}
