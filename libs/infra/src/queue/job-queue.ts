import { Queue } from 'bullmq';
import type Redis from 'ioredis';
import { bullPrefix, type JobPayloads, type QueueName } from './queues';

const DAY = 24 * 60 * 60;

/** Enqueues with a deterministic id: BullMQ ignores an add whose id it still holds. */
export class JobQueue<Q extends QueueName> {
  private readonly queue: Queue;

  constructor(
    readonly name: Q,
    connection: Redis,
    redisPrefix: string,
  ) {
    this.queue = new Queue(name, {
      connection,
      prefix: bullPrefix(redisPrefix),
      defaultJobOptions: {
        attempts: 8,
        backoff: { type: 'exponential', delay: 500 },
        // Kept for a week so a replayed reaction within that window is deduplicated by id; beyond it, the
        // job's own idempotency (it re-reads the stream) makes a second run a no-op.
        removeOnComplete: { age: 7 * DAY },
        removeOnFail: { age: 30 * DAY },
      },
    });
  }

  async add(jobId: string, payload: JobPayloads[Q], options: { delayMs?: number } = {}): Promise<void> {
    await this.queue.add(this.name, payload, { jobId, delay: options.delayMs });
  }

  raw(): Queue {
    return this.queue;
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
