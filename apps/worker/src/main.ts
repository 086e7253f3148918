import 'reflect-metadata';
import { loadConfig } from '@bastion/infra/config/config';
import { openRolePool } from '@bastion/infra/database/pools';
import { assertLoginPrivileges, assertProductionLogins } from '@bastion/infra/database/process-logins';
import { createEventStore } from '@bastion/infra/event-store/create-event-store';
import { SignInLimiter } from '@bastion/infra/identity/sign-in-limiter';
import { type AuditExportJob, bullPrefix, type MergeJob, type ProvisionOrganizationJob, QUEUES, type SignInThrottleReportJob } from '@bastion/infra/queue/queues';
import { AuditSigningClient } from '@bastion/infra/audit';
import { exportAuditTrail } from './audit/export-audit-trail.processor';
import { fromProjectRoot } from '@bastion/infra/config/project-root';
import { mergeApprovedRequest } from './code/merge.processor';
import { runRequestedTests } from './code/test-run.processor';
import type { TestRunJob } from '@bastion/infra/queue/queues';
import type { CodePolicy } from '@bastion/domain';
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
  assertProductionLogins('worker', config);
  const pool = await openRolePool(config.DATABASE_URL, 'bastion_worker');
  await assertLoginPrivileges(pool, 'bastion_worker');
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
  const reposRoot = fromProjectRoot(config.REPOS_ROOT);
  const policyOf = async (orgId: string): Promise<CodePolicy> => {
    const row = (await pool.query<{ required_approvals: number; require_passing_tests: boolean }>('select * from authz.code_policy($1)', [orgId])).rows[0];
    if (!row) throw new Error('the organisation has no merge-request policy');
    return { requiredApprovals: row.required_approvals, requirePassingTests: row.require_passing_tests };
  };
  const merges = new Worker<MergeJob>(QUEUES.merges, async (job: Job<MergeJob>) => mergeApprovedRequest(store, reposRoot, job.data, { policyOf }), {
    connection: redis,
    prefix: bullPrefix(config.REDIS_PREFIX),
    concurrency: 1, // one merge at a time per worker: each is a compare-and-swap on main anyway
  });
  const testRunLimits = { timeoutMs: config.TEST_RUN_TIMEOUT_MS, memoryBytes: config.TEST_RUN_MEMORY_MB * 1024 * 1024 };
  const testRuns = new Worker<TestRunJob>(QUEUES.testRuns, async (job: Job<TestRunJob>) => runRequestedTests(store, reposRoot, job.data, { limits: testRunLimits }), {
    connection: redis,
    prefix: bullPrefix(config.REDIS_PREFIX),
    concurrency: 1, // sandboxed runs are CPU- and memory-heavy: one at a time per worker
  });
  // Audit exports to files: the sealer signs their final checkpoint on request; this process never loads the audit key.
  const signing = new AuditSigningClient(redis, await openRedis(config.REDIS_URL), config.REDIS_PREFIX);
  const exportsDir = fromProjectRoot(config.AUDIT_EXPORTS_DIR);
  const auditExports = new Worker<AuditExportJob>(
    QUEUES.auditExports,
    async (job: Job<AuditExportJob>) =>
      exportAuditTrail({ store, pool, signing, dir: exportsDir }, job.data, { final: job.attemptsMade + 1 >= (job.opts.attempts ?? 1) }),
    { connection: redis, prefix: bullPrefix(config.REDIS_PREFIX), concurrency: 1 }, // one large file at a time per worker
  );
  const workers = [provisioning, throttleReports, merges, auditExports, testRuns];
  for (const worker of workers) {
    worker.on('completed', (job, result) => logger.info('job completed', { queue: job.queueName, jobId: job.id, result }));
    worker.on('failed', (job, error) =>
      logger.event('warn', 'job failed', { queue: job?.queueName, jobId: job?.id, attempt: job?.attemptsMade, error }),
    );
    worker.on('error', (error) => logger.event('error', 'worker error', { error }));
  }

  onShutdown(logger, config.SHUTDOWN_GRACE_MS, async () => {
    await Promise.all(workers.map((w) => w.close())); // waits for running jobs
    signing.close();
    redis.disconnect();
    await store.close();
    await pool.end();
  });
  logger.info('worker running', { queues: workers.map((w) => w.name), eventStore: store.kind });
}

runMain('worker', main);
