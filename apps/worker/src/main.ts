import 'reflect-metadata';
import { loadConfig } from '@bastion/infra/config/config';
import { openRolePool } from '@bastion/infra/database/pools';
import { createEventStore } from '@bastion/infra/event-store/create-event-store';
import { SignInLimiter } from '@bastion/infra/identity/sign-in-limiter';
import { bullPrefix, type MergeJob, type ProvisionOrganizationJob, QUEUES, type SignInThrottleReportJob } from '@bastion/infra/queue/queues';
import { projectRoot } from '@bastion/infra/config/project-root';
import { isAbsolute, join } from 'node:path';
import { mergeApprovedRequest } from './code/merge.processor';
import { openRedis } from '@bastion/infra/queue/redis';
import { JsonLogger } from '@bastion/infra/runtime/logger';
import { onShutdown } from '@bastion/infra/runtime/shutdown';
import { runMain } from '@bastion/infra/runtime/startup-error';
import { type Job, Worker } from 'bullmq';
import { reportSignInThrottle } from './identity/report-sign-in-throttle.processor';
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
  const limiter = new SignInLimiter(redis, config.REDIS_PREFIX);
  const throttleReports = new Worker<SignInThrottleReportJob>(
    QUEUES.signInThrottleReports,
    async (job: Job<SignInThrottleReportJob>) => reportSignInThrottle(store, limiter, job.data),
    { connection: redis, prefix: bullPrefix(config.REDIS_PREFIX), concurrency: config.WORKER_CONCURRENCY },
  );
  const reposRoot = isAbsolute(config.REPOS_ROOT) ? config.REPOS_ROOT : join(projectRoot(), config.REPOS_ROOT);
  const merges = new Worker<MergeJob>(QUEUES.merges, async (job: Job<MergeJob>) => mergeApprovedRequest(store, reposRoot, job.data), {
    connection: redis,
    prefix: bullPrefix(config.REDIS_PREFIX),
    concurrency: 1, // one merge at a time per worker: each is a compare-and-swap on main anyway
  });
  const workers = [provisioning, throttleReports, merges];
  for (const worker of workers) {
    worker.on('completed', (job, result) => logger.info('job completed', { queue: job.queueName, jobId: job.id, result }));
    worker.on('failed', (job, error) =>
      logger.event('warn', 'job failed', { queue: job?.queueName, jobId: job?.id, attempt: job?.attemptsMade, error }),
    );
    worker.on('error', (error) => logger.event('error', 'worker error', { error }));
  }

  onShutdown(logger, config.SHUTDOWN_GRACE_MS, async () => {
    await Promise.all(workers.map((w) => w.close())); // waits for running jobs
    redis.disconnect();
    await store.close();
    await pool.end();
  });
  logger.info('worker running', { queues: workers.map((w) => w.name), eventStore: store.kind });
}

runMain('worker', main);
