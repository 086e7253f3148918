import 'reflect-metadata';
import { loadConfig } from '@bastion/infra/config/config';
import { openRolePool } from '@bastion/infra/database/pools';
import { createEventStore } from '@bastion/infra/event-store/create-event-store';
import { bullPrefix, type ProvisionOrganizationJob, QUEUES } from '@bastion/infra/queue/queues';
import { openRedis } from '@bastion/infra/queue/redis';
import { JsonLogger } from '@bastion/infra/runtime/logger';
import { onShutdown } from '@bastion/infra/runtime/shutdown';
import { runMain } from '@bastion/infra/runtime/startup-error';
import { type Job, Worker } from 'bullmq';
import { provisionOrganization } from './organization/provision-organization.processor';

/** The worker: BullMQ processors. Every job is idempotent and ends by appending an event. */
async function main(): Promise<void> {
  const config = loadConfig();
  const logger = new JsonLogger('worker', config.LOG_LEVEL);
  const pool = await openRolePool(config.DATABASE_URL, 'bastion_worker');
  const store = await createEventStore(config, pool);
  const redis = await openRedis(config.REDIS_URL);

  const provisioning = new Worker<ProvisionOrganizationJob>(
    QUEUES.organizationProvisioning,
    async (job: Job<ProvisionOrganizationJob>) => provisionOrganization(store, job.data),
    { connection: redis, prefix: bullPrefix(config.REDIS_PREFIX), concurrency: config.WORKER_CONCURRENCY },
  );
  provisioning.on('completed', (job, result) =>
    logger.info('job completed', { queue: job.queueName, jobId: job.id, result }),
  );
  provisioning.on('failed', (job, error) =>
    logger.event('warn', 'job failed', { queue: job?.queueName, jobId: job?.id, attempt: job?.attemptsMade, error }),
  );
  provisioning.on('error', (error) => logger.event('error', 'worker error', { error }));

  onShutdown(logger, config.SHUTDOWN_GRACE_MS, async () => {
    await provisioning.close(); // waits for running jobs
    redis.disconnect();
    await store.close();
    await pool.end();
  });
  logger.info('worker running', { queues: [QUEUES.organizationProvisioning], eventStore: store.kind });
}

runMain('worker', main);
