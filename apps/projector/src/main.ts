import 'reflect-metadata';
import { loadConfig } from '@bastion/infra/config/config';
import { openRolePool } from '@bastion/infra/database/pools';
import { assertLoginPrivileges, assertProductionLogins } from '@bastion/infra/database/process-logins';
import { createEventStore } from '@bastion/infra/event-store/create-event-store';
import type { RecordedEvent } from '@bastion/infra/event-store/event-store.port';
import type { Reactor } from '@bastion/infra/projection/projection';
import { ProjectionRunner } from '@bastion/infra/projection/projection-runner';
import { changesOf, publishChanges, revocationsOf } from '@bastion/infra/live/changes';
import { JobQueue } from '@bastion/infra/queue/job-queue';
import { QUEUES } from '@bastion/infra/queue/queues';
import { openRedis } from '@bastion/infra/queue/redis';
import { JsonLogger } from '@bastion/infra/runtime/logger';
import { runMain, StartupError } from '@bastion/infra/runtime/startup-error';
import { AuditKeyDirectory } from '@bastion/infra/audit';
import { Sealer } from '@bastion/infra/audit-sealer/sealer';
import { fromProjectRoot } from '@bastion/infra/config/project-root';
import { onShutdown } from '@bastion/infra/runtime/shutdown';
import { enqueueProvisioningWhenOrganizationCreated } from './organization/enqueue-provisioning-when-organization-created.reactor';
import { PROJECTIONS } from './projections';
import { enqueueMergeWhenMergeRequestApproved } from './code/enqueue-merge-when-merge-request-approved.reactor';
import { enqueueTestRunWhenRequested } from './code/enqueue-test-run-when-requested.reactor';
import { replay } from './replay';

/**
 * The projector: one checkpointed subscription per read model and per reactor, over the whole store.
 *   node dist/apps/projector/src/main.js               run until SIGTERM
 *   node dist/apps/projector/src/main.js rebuild NAME  empty NAME (or `all`) and replay it from position 0
 */
async function main(): Promise<void> {
  const config = loadConfig();
  const logger = new JsonLogger('projector', config.LOG_LEVEL);
  const [command, target] = process.argv.slice(2);
  // rebuild and replay are the operator's commands (`bastion rebuild|replay`), run with the operator's login.
  if (command === undefined) assertProductionLogins('projector', config);
  const pool = await openRolePool(config.DATABASE_URL, 'bastion_projector');
  await assertLoginPrivileges(pool, 'bastion_projector');
  const store = await createEventStore(config, pool);

  if (command === 'rebuild') {
    const chosen = target === 'all' ? PROJECTIONS : PROJECTIONS.filter((p) => p.name === target);
    if (chosen.length === 0) {
      throw new StartupError(`Unknown projection ${JSON.stringify(target)}; known: ${PROJECTIONS.map((p) => p.name).join(', ')}, all.`);
    }
    for (const projection of chosen) {
      const runner = new ProjectionRunner(pool, store, projection, { logger });
      await runner.reset();
      const applied = await runner.catchUp();
      logger.info('rebuilt', { projection: projection.name, events: applied });
    }
    await store.close();
    await pool.end();
    return;
  }
  if (command === 'replay') {
    const chosen = target === undefined || target === 'all' || target === '--swap' ? PROJECTIONS : PROJECTIONS.filter((p) => p.name === target);
    if (chosen.length === 0) throw new StartupError(`Unknown projection ${JSON.stringify(target)}; known: ${PROJECTIONS.map((p) => p.name).join(', ')}, all.`);
    const report = await replay(config.DATABASE_URL, chosen, { swap: process.argv.includes('--swap') });
    for (const t of report.tables) {
      process.stdout.write(`${t.table}: live ${t.live}, replayed ${t.replayed}, only live ${t.onlyLive}, only replayed ${t.onlyReplayed}\n`);
    }
    process.stdout.write(report.identical ? 'replay: identical to the live read models\n' : report.swapped ? 'replay: differences found; the replayed rows were swapped in\n' : 'replay: differences found (run with --swap to replace the live rows)\n');
    await store.close();
    await pool.end();
    process.exitCode = report.identical || report.swapped ? 0 : 1;
    return;
  }
  if (command !== undefined) throw new StartupError(`Unknown command ${JSON.stringify(command)}; use "rebuild <projection|all>", "replay [<projection|all>] [--swap]" or nothing.`);

  const redis = await openRedis(config.REDIS_URL);
  const provisioning = new JobQueue(QUEUES.organizationProvisioning, redis, config.REDIS_PREFIX);
  // Live updates: after a read model commits, tell the API which ids changed (never the rows themselves).
  const onCommitted = async (consumer: string, events: readonly RecordedEvent[]) =>
    publishChanges(redis, config.REDIS_PREFIX, changesOf(consumer, events));
  const revocations: Reactor = {
    kind: 'reactor',
    name: 'publish-session-revocations',
    handles: ['SessionRevoked', 'RefreshTokenReuseDetected'],
    react: async (event) => publishChanges(redis, config.REDIS_PREFIX, revocationsOf([event])),
  };
  const merges = new JobQueue(QUEUES.merges, redis, config.REDIS_PREFIX);
  const testRuns = new JobQueue(QUEUES.testRuns, redis, config.REDIS_PREFIX);
  const runners = [
    ...PROJECTIONS,
    enqueueProvisioningWhenOrganizationCreated(provisioning),
    revocations,
    enqueueMergeWhenMergeRequestApproved(store, merges),
    enqueueTestRunWhenRequested(store, testRuns),
  ].map((consumer) => new ProjectionRunner(pool, store, consumer, { logger, onCommitted }));
  runners.forEach((r) => r.start());

  // The sealer: its own login role (the only one that may write the audit chains) and the audit signing keys,
  // which no other process opens.
  const sealerPool = config.EVENT_STORE === 'postgres' ? await openRolePool(config.DATABASE_URL, 'bastion_sealer', { max: 4 }) : null;
  if (sealerPool) await assertLoginPrivileges(sealerPool, 'bastion_sealer');
  let sealer: Sealer | null = null;
  const sealerRedis: { disconnect(): void }[] = [];
  if (sealerPool) {
    const keysDir = fromProjectRoot(config.AUDIT_KEYS_DIR);
    const keys = await new AuditKeyDirectory(keysDir).loadOrGenerate(new Date());
    sealer = new Sealer(sealerPool, keys, {
      checkpointEvery: config.AUDIT_CHECKPOINT_EVERY,
      checkpointSeconds: config.AUDIT_CHECKPOINT_SECONDS,
      verifySeconds: config.AUDIT_VERIFY_SECONDS,
      redisPrefix: config.REDIS_PREFIX,
      logger,
    });
    await sealer.publishKeys();
    const subscriber = await openRedis(config.REDIS_URL);
    const publisher = await openRedis(config.REDIS_URL);
    sealerRedis.push(subscriber, publisher);
    await sealer.serveSignRequests(subscriber, publisher);
    sealer.start();
  }

  onShutdown(logger, config.SHUTDOWN_GRACE_MS, async () => {
    await Promise.all(runners.map((r) => r.stop()));
    await sealer?.stop();
    sealerRedis.forEach((r) => r.disconnect());
    await sealerPool?.end();
    await provisioning.close();
    await merges.close();
    await testRuns.close();
    redis.disconnect();
    await store.close();
    await pool.end();
  });
  logger.info('projector running', { consumers: runners.map((r) => r.name), eventStore: store.kind });
}

runMain('projector', main);
