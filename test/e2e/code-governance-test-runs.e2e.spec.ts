/**
 * Sandboxed test runs, the org's merge-request policy, the merge saga's crash recovery and the live feed of code
 * changes — through the real API, the real git CLI over smart HTTP, the real worker processors, bubblewrap,
 * PostgreSQL and Redis.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Redis from 'ioredis';
import type { Pool } from 'pg';
import { WebSocket } from 'ws';
import { enqueueMergeWhenMergeRequestApproved } from '../../apps/projector/src/code/enqueue-merge-when-merge-request-approved.reactor';
import { enqueueTestRunWhenRequested } from '../../apps/projector/src/code/enqueue-test-run-when-requested.reactor';
import { type MergeDeps, mergeApprovedRequest } from '../../apps/worker/src/code/merge.processor';
import { runRequestedTests } from '../../apps/worker/src/code/test-run.processor';
import type { CodePolicy } from '../../libs/domain/src';
import { PostgresEventStore } from '../../libs/infra/src/event-store/postgres/postgres-event-store.adapter';
import { JobQueue } from '../../libs/infra/src/queue/job-queue';
import { type MergeJob, QUEUES, type TestRunJob } from '../../libs/infra/src/queue/queues';
import { type TestApi, startTestApi } from '../support/api';
import { closePools, poolFor, type TestDatabase, workerDatabase } from '../support/database';
import { call, decodeJwt } from '../support/http';
import type { SignedIn } from '../support/identity';
import { addMember, newOrg, type OrgFixture } from '../support/orgs';
import { catchUpReactor, TestProjector } from '../support/projector';
import { dropPrefix } from '../support/redis';
import { adminUrl, redisUrl } from '../support/services';
import { SessionDatabase } from '../../apps/api/src/auth/session-database';

let db: TestDatabase;
let api: TestApi;
let admin: Pool;
/** The projector's role, for the reactors this suite runs as the projector process would. */
let reactorPool: Pool;
let projector: TestProjector;
let redis: Redis;
const work = mkdtempSync(join(tmpdir(), 'bastion-runs-'));
const reposRoot = join(work, 'repos');
/** Where the worker makes each run's clone; reachable by the sandbox's uid, and empty after every run. */
const runsRoot = join(work, 'runs');
const LIMITS = { timeoutMs: 60_000, memoryBytes: 1024 ** 3 };

beforeAll(async () => {
  mkdirSync(runsRoot);
  chmodSync(work, 0o755);
  chmodSync(runsRoot, 0o755);
  db = await workerDatabase();
  api = await startTestApi(db, { REPOS_ROOT: reposRoot });
  admin = poolFor(db.adminUrl);
  reactorPool = poolFor(db.urlFor('bastion_projector'), 2);
  projector = new TestProjector(db, { redisPrefix: api.redisPrefix });
  redis = new Redis(redisUrl());
});
afterAll(async () => {
  projector?.close();
  redis?.disconnect();
  await api?.close();
  await closePools();
  if (api) await dropPrefix(api.redisPrefix);
});

/** Asynchronous on purpose: the API under test runs in this process, so a blocking spawn would deadlock it. */
function run(cwd: string, file: string, args: string[]): Promise<{ status: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(file, args, {
      cwd,
      env: { PATH: process.env.PATH ?? '', HOME: work, GIT_TERMINAL_PROMPT: '0', GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@x' },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => resolve({ status: code ?? -1, out }));
  });
}
const git = (cwd: string, ...args: string[]) => run(cwd, 'git', args);

const workerStore = () => new PostgresEventStore(poolFor(db.urlFor('bastion_worker')));
const policyOf = async (orgId: string): Promise<CodePolicy> => {
  const row = (await poolFor(db.urlFor('bastion_worker')).query('select * from authz.code_policy($1)', [orgId])).rows[0];
  return { requiredApprovals: row.required_approvals, requirePassingTests: row.require_passing_tests };
};

async function mrEvents(mrId: string) {
  return (await admin.query('select id, type, data, metadata from events where stream_id = $1 order by revision', [`mr-${mrId}`])).rows;
}

/** The orgs this suite made: the reactor's checkpoint is the worker database's, shared with other suites. */
const suiteOrgs = new Set<string>();
const testRunReactor = (queue: JobQueue<'test-runs'>) => enqueueTestRunWhenRequested(new PostgresEventStore(reactorPool), queue);
const TEST_RUN_REACTOR = 'enqueue-test-run-when-requested';
const reactorCheckpoint = async () =>
  (await reactorPool.query<{ position: string | null }>('select position from projection_checkpoints where name = $1', [TEST_RUN_REACTOR])).rows[0]?.position ?? null;
/** As if the projector died after enqueueing and before its checkpoint committed: the next run reacts again. */
const rewindReactor = (to: string | null) => reactorPool.query('update projection_checkpoints set position = $2 where name = $1', [TEST_RUN_REACTOR, to]);

/**
 * The `test-runs` jobs the projector's reactor enqueues from TestRunRequested (the API enqueues nothing), each new one
 * run once by the worker's processor. Jobs stay in the queue, as completed ones stay in BullMQ for a week, so a
 * replayed reaction that re-adds an id is ignored here as it is in production.
 */
const seenTestJobs = new Set<string>();
async function runTestJobs(): Promise<{ id: string; data: TestRunJob; outcome: string }[]> {
  const queue = new JobQueue(QUEUES.testRuns, redis, api.redisPrefix);
  try {
    await catchUpReactor(reactorPool, testRunReactor(queue));
    const jobs = (await queue.raw().getJobs(['waiting', 'delayed', 'prioritized'])).filter((j) => !seenTestJobs.has(j.id!));
    const done = [];
    for (const job of jobs) {
      seenTestJobs.add(job.id!);
      if (!suiteOrgs.has((job.data as TestRunJob).orgId)) continue;
      done.push({ id: job.id!, data: job.data as TestRunJob, outcome: await runRequestedTests(workerStore(), reposRoot, job.data as TestRunJob, { limits: LIMITS, tempRoot: runsRoot }) });
    }
    return done;
  } finally {
    await queue.close();
  }
}

/**
 * The merge saga's new jobs: the checkpointed reactor enqueues. Jobs stay in the queue, as completed ones stay in
 * BullMQ for a week, so an add with an id already used is ignored here as it is in production.
 */
const seenMergeJobs = new Set<string>();
/** This suite's merge jobs (the reactor's checkpoint is shared with other suites on this worker's database). */
async function mergeJobs(): Promise<MergeJob[]> {
  const queue = new JobQueue(QUEUES.merges, redis, api.redisPrefix);
  try {
    await catchUpReactor(reactorPool, enqueueMergeWhenMergeRequestApproved(new PostgresEventStore(reactorPool), queue));
    const jobs = (await queue.raw().getJobs(['waiting', 'delayed', 'prioritized'])).filter((j) => !seenMergeJobs.has(j.id!));
    for (const job of jobs) seenMergeJobs.add(job.id!);
    return jobs.map((j) => j.data as MergeJob).filter((job) => suiteOrgs.has(job.orgId));
  } finally {
    await queue.close();
  }
}

async function freshMfa(user: SignedIn): Promise<void> {
  await admin.query('update authz.sessions set mfa_at = now() where id = $1', [decodeJwt(user.accessToken).payload.sid]);
}

/** An org's repository, an agent granted it with a clone, and helpers to push branches and open merge requests. */
async function codeFixture(org: OrgFixture) {
  suiteOrgs.add(org.orgId);
  const created = await call(api, 'POST', `/v1/orgs/${org.orgId}/repos`, { token: org.admin.accessToken, body: { name: `service-${randomUUID().slice(0, 8)}` } });
  expect(created.status).toBe(201);
  const repoId = created.body.id as string;
  const agentId = (await call(api, 'POST', `/v1/orgs/${org.orgId}/agents`, { token: org.admin.accessToken, body: { name: 'coder' } })).body.id as string;
  const key = (await call(api, 'POST', `/v1/orgs/${org.orgId}/agents/${agentId}/keys`, { token: org.admin.accessToken, body: {} })).body.key as string;
  await projector.catchUp();
  expect((await call(api, 'POST', `/v1/orgs/${org.orgId}/repos/${repoId}/agents`, { token: org.admin.accessToken, body: { agentId } })).status).toBe(204);
  const token = (await call(api, 'POST', '/v1/auth/agent-token', { body: { apiKey: key } })).body.accessToken as string;
  const clone = join(work, `clone-${randomUUID()}`);
  const url = `${api.base.replace('http://', `http://x:${encodeURIComponent(key)}@`)}/git/${org.orgId}/${repoId}.git`;
  expect((await git(work, 'clone', url, clone)).status).toBe(0);
  const base = `/v1/orgs/${org.orgId}/repos/${repoId}/merge-requests`;

  /** Commits `files` on agent/<id>/<name> (a fresh branch from main unless `onTop`) and pushes it; the new head. */
  const push = async (name: string, files: Record<string, string>, onTop = false): Promise<string> => {
    const branch = `agent/${agentId}/${name}`;
    if (onTop) {
      expect((await git(clone, 'checkout', branch)).status).toBe(0);
    } else {
      expect((await git(clone, 'fetch', 'origin')).status).toBe(0);
      expect((await git(clone, 'checkout', '-B', branch, 'origin/main')).status).toBe(0);
    }
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(dirname(join(clone, path)), { recursive: true });
      writeFileSync(join(clone, path), content);
    }
    await git(clone, 'add', '-A');
    expect((await git(clone, 'commit', '-m', `change ${name}`)).status).toBe(0);
    const pushed = await git(clone, 'push', '--force', 'origin', branch);
    expect(pushed).toMatchObject({ status: 0 });
    return (await git(clone, 'rev-parse', 'HEAD')).out.trim();
  };
  const open = async (name: string, files: Record<string, string>, description?: string) => {
    const headSha = await push(name, files);
    const opened = await call(api, 'POST', base, { token, body: { sourceBranch: `agent/${agentId}/${name}`, title: name, description } });
    expect(opened.status).toBe(201);
    await projector.catchUp(); // a later push finds the merge request in the read model and moves its head
    return { mrId: opened.body.id as string, headSha };
  };
  const requestRun = (mrId: string, headSha: string, as = token) => call(api, 'POST', `${base}/${mrId}/test-runs`, { token: as, body: { headSha } });
  const approve = (mrId: string, headSha: string, as: SignedIn) => call(api, 'POST', `${base}/${mrId}/approve`, { token: as.accessToken, body: { headSha } });
  const show = async (mrId: string, as: string) => {
    await projector.catchUp();
    return call(api, 'GET', `${base}/${mrId}`, { token: as });
  };
  const mainOf = async () => (await git(reposRoot, '--git-dir', join(reposRoot, org.orgId, `${repoId}.git`), 'rev-parse', 'refs/heads/main')).out.trim();
  return { repoId, agentId, token, base, clone, serverRepo: join(reposRoot, org.orgId, `${repoId}.git`), push, open, requestRun, approve, show, mainOf };
}

const ci = (command: string[]) => JSON.stringify({ command });
const PASSING = { '.bastion/ci.json': ci(['sh', '-c', 'test "$(cat answer.txt)" = 42']), 'answer.txt': '42' };

describe('sandboxed test runs through the API and the worker', () => {
  let org: OrgFixture;
  let code: Awaited<ReturnType<typeof codeFixture>>;
  let viewer: SignedIn;
  let member: SignedIn;
  let mrId: string;
  let headSha: string;

  beforeAll(async () => {
    org = await newOrg(api);
    viewer = await addMember(api, org, 'viewer');
    member = await addMember(api, org, 'member');
    code = await codeFixture(org);
    ({ mrId, headSha } = await code.open('answer', PASSING));
  });

  it('an agent requests a run of the current head: 202 {runId}, one job of ids only keyed by the event, a passing outcome recorded once', async () => {
    const requested = await code.requestRun(mrId, headSha);
    expect(requested.status).toBe(202);
    const runId = requested.body.runId as string;
    expect(requested.body).toEqual({ runId });

    const event = (await mrEvents(mrId)).find((e) => e.type === 'TestRunRequested')!;
    expect(event).toMatchObject({ data: { mrId, runId, headSha, requestedBy: { type: 'agent', id: code.agentId } }, metadata: { actor: { type: 'agent' } } });
    const [job, ...more] = await runTestJobs();
    expect(more).toEqual([]);
    expect(job!.id).toBe(`test-run-${event.id}`);
    expect(Object.keys(job!.data).sort()).toEqual(['causationEventId', 'correlationId', 'mrId', 'orgId', 'repoId', 'runId']);
    expect(job!.outcome).toBe('passed');
    expect(readdirSync(runsRoot)).toEqual([]); // the clone is gone

    // The same job again (a retry, a redelivery): nothing runs, nothing is appended.
    expect(await runRequestedTests(workerStore(), reposRoot, job!.data, { limits: LIMITS, tempRoot: runsRoot })).toBe('already-recorded');
    const completed = (await mrEvents(mrId)).filter((e) => e.type === 'TestRunCompleted');
    expect(completed).toHaveLength(1);
    expect(completed[0].data).toEqual({ mrId, runId, headSha, passed: true, exitCode: 0, timedOut: false, durationMs: expect.any(Number) });
    expect(completed[0].metadata).toMatchObject({ actor: { type: 'system' }, causationId: event.id });

    const shown = await code.show(mrId, member.accessToken);
    expect(shown.body.testRuns).toEqual([
      expect.objectContaining({ runId, headSha, status: 'passed', exitCode: 0, timedOut: false, requestedBy: { type: 'agent', id: code.agentId } }),
    ]);
  });

  it('a failing command is recorded as a failed run with its exit code; a member may request runs too', async () => {
    headSha = await code.push('answer', { 'answer.txt': '41' }, true);
    await projector.catchUp();
    const requested = await code.requestRun(mrId, headSha, member.accessToken);
    expect(requested.status).toBe(202);
    expect((await runTestJobs()).map((j) => j.outcome)).toEqual(['failed']);
    const completed = (await mrEvents(mrId)).filter((e) => e.type === 'TestRunCompleted').at(-1)!;
    expect(completed.data).toMatchObject({ runId: requested.body.runId, headSha, passed: false, exitCode: 1, timedOut: false });
    expect(readdirSync(runsRoot)).toEqual([]);
  });

  it('a head without a valid .bastion/ci.json is a failed run where nothing ran', async () => {
    headSha = await code.push('answer', { '.bastion/ci.json': '{"command": "npm test"}' }, true);
    await projector.catchUp();
    expect((await code.requestRun(mrId, headSha)).status).toBe(202);
    expect((await runTestJobs()).map((j) => j.outcome)).toEqual(['invalid-config']);
    expect((await mrEvents(mrId)).at(-1)).toMatchObject({ type: 'TestRunCompleted', data: { passed: false, exitCode: null, invalidConfig: true } });
  });

  it('a run for a stale head is refused (409) and nothing is appended or enqueued', async () => {
    const stale = (await mrEvents(mrId)).find((e) => e.type === 'MergeRequestOpened')!.data.headSha as string;
    const before = (await mrEvents(mrId)).length;
    const refused = await code.requestRun(mrId, stale);
    expect(refused.status).toBe(409);
    expect(refused.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(refused.body.type).toBe('urn:bastion:problem:mr-test-run-stale-head');
    expect((await mrEvents(mrId)).length).toBe(before);
    expect(await runTestJobs()).toEqual([]);
  });

  it('an agent not granted the repository and a viewer cannot request runs', async () => {
    const outsider = await codeFixture(org); // another agent, granted another repository only
    expect((await code.requestRun(mrId, headSha, outsider.token)).status).toBe(403);
    expect((await code.requestRun(mrId, headSha, viewer.accessToken)).status).toBe(403);
    expect(await runTestJobs()).toEqual([]);
  });

  /**
   * Each command exits 0 if it reached its target and 42 if it did not: the run must fail with 42. Each target is
   * first shown reachable from the host with the same command, so the test proves the sandbox, not a missing service.
   */
  const pg = new URL(adminUrl());
  const rd = new URL(redisUrl());
  const attacks: [string, (ctx: { serverRepo: string }) => string, boolean][] = [
    [
      '`git update-ref` on the server’s repository',
      ({ serverRepo }) => `test -d '${serverRepo}' || exit 42; git --git-dir='${serverRepo}' update-ref refs/heads/main "$(git rev-parse HEAD)" && exit 0; exit 43`,
      false, // not run on the host: it would be the attack itself (the reference-transaction hook is the second lock)
    ],
    [
      '`psql` (TCP and the Unix socket directory)',
      () =>
        `command -v psql >/dev/null || exit 3; ` +
        `[ "$(psql -h ${pg.hostname} -p ${pg.port || 5432} -U ${pg.username || 'postgres'} -d postgres -Atc 'select 1' 2>/dev/null)" = 1 ] && exit 0; ` +
        `[ "$(psql -h /var/run/postgresql -U postgres -d postgres -Atc 'select 1' 2>/dev/null)" = 1 ] && exit 0; exit 42`,
      true,
    ],
    ['`redis-cli`', () => `command -v redis-cli >/dev/null || exit 3; [ "$(redis-cli -h ${rd.hostname} -p ${rd.port || 6379} ping 2>/dev/null)" = PONG ] && exit 0; exit 42`, true],
    ['`curl` to the API', () => `command -v curl >/dev/null || exit 3; [ "$(curl -s -o /dev/null --max-time 5 -w '%{http_code}' ${api.base}/health/live)" != 000 ] && exit 0; exit 42`, true],
  ];

  it.each(attacks)('a test run whose command tries %s fails, and main does not move', async (_name, script, onHost) => {
    const text = script({ serverRepo: code.serverRepo });
    if (onHost) expect(await run(work, 'sh', ['-c', text])).toMatchObject({ status: 0 });
    else expect((await run(work, 'test', ['-d', code.serverRepo])).status).toBe(0);
    const main = await code.mainOf();
    headSha = await code.push('answer', { '.bastion/ci.json': ci(['sh', 'attack.sh']), 'attack.sh': text }, true);
    await projector.catchUp();
    expect((await code.requestRun(mrId, headSha)).status).toBe(202);
    expect((await runTestJobs()).map((j) => j.outcome)).toEqual(['failed']);
    expect((await mrEvents(mrId)).at(-1)).toMatchObject({ type: 'TestRunCompleted', data: { headSha, passed: false, exitCode: 42, timedOut: false } });
    expect(await code.mainOf()).toBe(main);
  });
});

describe('a test run is enqueued from the event stream, never by the API', () => {
  let org: OrgFixture;
  let code: Awaited<ReturnType<typeof codeFixture>>;
  let queue: JobQueue<'test-runs'>;
  const jobsOf = async (runId: string) => (await queue.raw().getJobs(['waiting', 'delayed', 'prioritized', 'active', 'completed'])).filter((j) => (j.data as TestRunJob).runId === runId);
  const completedOf = async (mrId: string, runId: string) => (await mrEvents(mrId)).filter((e) => e.type === 'TestRunCompleted' && e.data.runId === runId);

  beforeAll(async () => {
    org = await newOrg(api);
    code = await codeFixture(org);
    queue = new JobQueue(QUEUES.testRuns, redis, api.redisPrefix);
  });
  afterAll(async () => {
    await queue?.close();
  });

  it('a requested test run is not lost if the API stops right after the commit: the reactor enqueues it once, and a replay adds nothing', async () => {
    const { mrId, headSha } = await code.open('durable', PASSING);
    expect(await runTestJobs()).toEqual([]); // the reactor is up to date
    const before = await reactorCheckpoint();

    // The request commits; the API's part ends there (it enqueues nothing, so dying now loses nothing).
    const requested = await code.requestRun(mrId, headSha);
    expect(requested.status).toBe(202);
    const runId = requested.body.runId as string;
    const event = (await mrEvents(mrId)).find((e) => e.type === 'TestRunRequested' && e.data.runId === runId)!;
    expect(await queue.raw().getJob(`test-run-${event.id}`)).toBeUndefined();

    // The projector's reactor, from its checkpoint: one job, ids only, keyed by the event.
    await catchUpReactor(reactorPool, testRunReactor(queue));
    const [job, ...others] = await jobsOf(runId);
    expect(others).toEqual([]);
    expect(job!.id).toBe(`test-run-${event.id}`);
    expect(job!.data).toEqual({ orgId: org.orgId, repoId: code.repoId, mrId, runId, causationEventId: event.id, correlationId: event.metadata.correlationId });

    // The projector dies before its checkpoint commits: the event is reacted to again; the job id dedupes it.
    await rewindReactor(before);
    await catchUpReactor(reactorPool, testRunReactor(queue));
    expect((await jobsOf(runId)).map((j) => j.id)).toEqual([`test-run-${event.id}`]);

    const ran = await runTestJobs();
    expect(ran.map((j) => [j.id, j.outcome])).toEqual([[`test-run-${event.id}`, 'passed']]);

    // Replayed again after the outcome is recorded: nothing new is enqueued, nothing runs, one outcome.
    await rewindReactor(before);
    expect(await runTestJobs()).toEqual([]);
    expect((await jobsOf(runId)).map((j) => j.id)).toEqual([`test-run-${event.id}`]);
    expect(await completedOf(mrId, runId)).toHaveLength(1);
    expect((await completedOf(mrId, runId))[0]).toMatchObject({ data: { runId, headSha, passed: true }, metadata: { causationId: event.id } });
  });

  it('a test-run job delivered twice at once (a stalled job redelivered while it runs) records one outcome', async () => {
    const { mrId, headSha } = await code.open('twice', PASSING);
    const requested = await code.requestRun(mrId, headSha);
    expect(requested.status).toBe(202);
    const runId = requested.body.runId as string;
    await catchUpReactor(reactorPool, testRunReactor(queue));
    const [job] = await jobsOf(runId);
    seenTestJobs.add(job!.id!); // run here, by hand, twice
    const data = job!.data as TestRunJob;
    const outcomes = await Promise.all([1, 2].map(() => runRequestedTests(workerStore(), reposRoot, data, { limits: LIMITS, tempRoot: runsRoot })));
    expect(outcomes.sort()).toEqual(['already-recorded', 'passed']);
    expect(await completedOf(mrId, runId)).toHaveLength(1);
    expect(readdirSync(runsRoot)).toEqual([]);
  });

  it('reading a merge request is one request transaction: the rows, the runs and the description’s key; the emergency stop still fails it closed', async () => {
    const description = `why ${randomUUID()}`;
    const { mrId } = await code.open('described', PASSING, description);
    await projector.catchUp();
    await freshMfa(org.admin); // the emergency stop and its lifting are step-up actions
    const transactions = jest.spyOn(SessionDatabase.prototype, 'as');
    try {
      const shown = await call(api, 'GET', `${code.base}/${mrId}`, { token: org.admin.accessToken });
      expect(shown.status).toBe(200);
      expect(shown.body).toMatchObject({ id: mrId, description, testRuns: [] });
      expect(transactions).toHaveBeenCalledTimes(1);

      expect((await call(api, 'POST', `/v1/orgs/${org.orgId}/security/kms/revoke`, { token: org.admin.accessToken })).status).toBe(204);
      transactions.mockClear();
      const stopped = await call(api, 'GET', `${code.base}/${mrId}`, { token: org.admin.accessToken });
      expect(stopped.status).toBe(409);
      expect(stopped.headers.get('content-type')).toMatch(/application\/problem\+json/);
      expect(stopped.body.type).toBe('urn:bastion:problem:key-revoked');
      expect(JSON.stringify(stopped.body)).not.toContain(description);
      expect(transactions).toHaveBeenCalledTimes(1);

      // A missing merge request is a 404 from the same one transaction.
      transactions.mockClear();
      expect((await call(api, 'GET', `${code.base}/${randomUUID()}`, { token: org.admin.accessToken })).status).toBe(404);
      expect(transactions).toHaveBeenCalledTimes(1);
    } finally {
      transactions.mockRestore();
      expect((await call(api, 'POST', `/v1/orgs/${org.orgId}/security/kms/restore`, { token: org.admin.accessToken })).status).toBe(204);
    }
    expect((await call(api, 'GET', `${code.base}/${mrId}`, { token: org.admin.accessToken })).body.description).toBe(description);
  });
});

describe('the org merge-request policy', () => {
  let org: OrgFixture;
  let code: Awaited<ReturnType<typeof codeFixture>>;
  let reviewer: SignedIn;
  let second: SignedIn;
  const settings = (orgId: string) => `/v1/orgs/${orgId}/settings/merge-requests`;
  const setPolicy = (body: unknown, as: string) => call(api, 'PUT', settings(org.orgId), { token: as, body });

  beforeAll(async () => {
    org = await newOrg(api);
    reviewer = await addMember(api, org, 'member');
    second = await addMember(api, org, 'member');
    code = await codeFixture(org);
  });

  it('is off by default: one approval, no test run required', async () => {
    expect((await call(api, 'GET', settings(org.orgId), { token: reviewer.accessToken })).body).toEqual({ requiredApprovals: 1, requirePassingTests: false });
  });

  it('only an Admin with fresh MFA sets it; N = 0 and unknown fields are refused with 400 problem+json; it is recorded', async () => {
    expect((await setPolicy({ requiredApprovals: 1, requirePassingTests: true }, code.token)).status).toBe(401); // agents: humans-only route
    expect((await setPolicy({ requiredApprovals: 1, requirePassingTests: true }, reviewer.accessToken)).status).toBe(403); // no org:security
    const stale = await setPolicy({ requiredApprovals: 1, requirePassingTests: true }, org.admin.accessToken);
    expect(stale.status).toBe(403);
    expect(stale.body.type).toBe('urn:bastion:problem:step-up-required');
    await freshMfa(org.admin);
    for (const body of [
      { requiredApprovals: 0, requirePassingTests: false },
      { requiredApprovals: -1, requirePassingTests: false },
      { requiredApprovals: 1.5, requirePassingTests: false },
      { requirePassingTests: false },
      { requiredApprovals: 1, requirePassingTests: false, allowAgentMerge: true },
      { requiredApprovals: 1, requirePassingTests: false, bypassApprovals: ['agent'] },
    ]) {
      const refused = await setPolicy(body, org.admin.accessToken);
      expect(refused.status).toBe(400);
      expect(refused.headers.get('content-type')).toMatch(/application\/problem\+json/);
    }
    expect((await setPolicy({ requiredApprovals: 2, requirePassingTests: true }, org.admin.accessToken)).status).toBe(204);
    expect((await call(api, 'GET', settings(org.orgId), { token: reviewer.accessToken })).body).toEqual({ requiredApprovals: 2, requirePassingTests: true });
    const { rows } = await admin.query("select data, metadata from events where stream_id = $1 and type = 'MergeRequestPolicyChanged'", [`org-${org.orgId}`]);
    expect(rows).toEqual([expect.objectContaining({ data: { orgId: org.orgId, requiredApprovals: 2, requirePassingTests: true } })]);
    expect(rows[0].metadata.actor).toEqual({ type: 'human', id: org.admin.userId });
    // Below the API, the column refuses 0 too.
    await expect(admin.query('update authz.organizations set required_approvals = 0 where org_id = $1', [org.orgId])).rejects.toMatchObject({ code: '23514' });
    expect((await setPolicy({ requiredApprovals: 1, requirePassingTests: true }, org.admin.accessToken)).status).toBe(204);
  });

  it('approval is refused while passing tests are required and the head has none; accepted after a passing run; a new push voids it', async () => {
    const { mrId, headSha } = await code.open('gated', PASSING);
    await freshMfa(reviewer);
    const refused = await code.approve(mrId, headSha, reviewer);
    expect(refused.status).toBe(409);
    expect(refused.body.type).toBe('urn:bastion:problem:mr-tests-required');

    expect((await code.requestRun(mrId, headSha)).status).toBe(202);
    expect((await runTestJobs()).map((j) => j.outcome)).toEqual(['passed']);
    expect((await code.approve(mrId, headSha, reviewer)).status).toBe(201);

    const newer = await code.push('gated', { 'more.txt': 'more' }, true);
    const shown = await code.show(mrId, reviewer.accessToken);
    expect(shown.body).toMatchObject({ headSha: newer, approvals: [] });
    await freshMfa(second);
    const voided = await code.approve(mrId, newer, second);
    expect(voided.status).toBe(409);
    expect(voided.body.type).toBe('urn:bastion:problem:mr-tests-required');
    expect(await mergeJobs()).toEqual([]); // the approval of the old head never reached a merge: the head moved
  });

  it('the merge worker re-checks the policy: raised to 2 approvals after the approval, the merge is refused and recorded', async () => {
    const { mrId, headSha } = await code.open('tightened', PASSING);
    expect((await code.requestRun(mrId, headSha)).status).toBe(202);
    expect((await runTestJobs()).map((j) => j.outcome)).toEqual(['passed']);
    await freshMfa(reviewer);
    expect((await code.approve(mrId, headSha, reviewer)).status).toBe(201);
    await freshMfa(org.admin);
    expect((await setPolicy({ requiredApprovals: 2, requirePassingTests: true }, org.admin.accessToken)).status).toBe(204);

    const main = await code.mainOf();
    const jobs = await mergeJobs();
    expect(jobs.map((j) => j.mrId)).toEqual([mrId]);
    expect(await mergeApprovedRequest(workerStore(), reposRoot, jobs[0]!, { policyOf })).toBe('refused');
    expect(await code.mainOf()).toBe(main);
    expect((await mrEvents(mrId)).at(-1)).toMatchObject({
      type: 'MergeRequestMergeFailed',
      data: { reason: 'rules-no-longer-hold', detail: '1 of 2 required human approvals of the current head' },
    });

    // The second approval completes the new N: the saga enqueues a new job (the refused one's id is not reused).
    await freshMfa(second);
    expect((await code.approve(mrId, headSha, second)).status).toBe(201);
    const [next, ...more] = await mergeJobs();
    expect(more).toEqual([]);
    expect(await mergeApprovedRequest(workerStore(), reposRoot, next!, { policyOf })).toBe('merged');
    expect(await code.mainOf()).not.toBe(main);
    expect((await setPolicy({ requiredApprovals: 1, requirePassingTests: false }, org.admin.accessToken)).status).toBe(204);
  });

  it('a crash between `git update-ref` and MergeRequestMerged: the retry records the merge as done, with the same commit, once', async () => {
    const { mrId, headSha } = await code.open('crash', { 'crash.txt': 'x' });
    await freshMfa(reviewer);
    expect((await code.approve(mrId, headSha, reviewer)).status).toBe(201);
    const [job] = await mergeJobs();
    const before = await code.mainOf();

    let moved = '';
    const crash: MergeDeps = {
      policyOf,
      afterMainMoved: async (commit) => {
        moved = commit;
        throw new Error('worker killed');
      },
    };
    await expect(mergeApprovedRequest(workerStore(), reposRoot, job!, crash)).rejects.toThrow('worker killed');
    expect(moved).toMatch(/^[0-9a-f]{40}$/);
    expect(await code.mainOf()).toBe(moved); // main moved, nothing recorded yet
    expect((await mrEvents(mrId)).map((e) => e.type)).toEqual(['MergeRequestOpened', 'MergeRequestApproved']);

    expect(await mergeApprovedRequest(workerStore(), reposRoot, job!, { policyOf })).toBe('already-merged');
    expect(await mergeApprovedRequest(workerStore(), reposRoot, job!, { policyOf })).toBe('already-recorded');
    expect(await code.mainOf()).toBe(moved);
    expect((await git(work, '--git-dir', code.serverRepo, 'rev-list', '--parents', '-n', '1', moved)).out.trim()).toBe(`${moved} ${before} ${headSha}`);
    const events = await mrEvents(mrId);
    expect(events.filter((e) => e.type === 'MergeRequestMerged').map((e) => e.data)).toEqual([{ mrId, headSha, mergeCommit: moved, alreadyMerged: true }]);
    expect(events.filter((e) => e.type === 'MergeRequestMergeFailed')).toEqual([]);
  });
});

describe('code changes on the live WebSocket feed', () => {
  interface Live {
    socket: WebSocket;
    messages: Record<string, unknown>[];
  }
  const connect = async (user: SignedIn): Promise<Live> => {
    const ticket = (await call(api, 'POST', '/v1/ws/tickets', { token: user.accessToken })).body.ticket as string;
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(`${api.base.replace('http', 'ws')}/v1/ws?ticket=${ticket}`, { headers: { origin: api.origin } });
      const messages: Record<string, unknown>[] = [];
      socket.on('message', (data) => messages.push(JSON.parse(String(data)) as Record<string, unknown>));
      socket.on('unexpected-response', (_req, res) => reject(new Error(`refused: ${res.statusCode}`)));
      socket.on('error', reject);
      socket.on('open', () => resolve({ socket, messages }));
    });
  };
  const until = async (check: () => boolean, ms = 5000) => {
    const end = Date.now() + ms;
    while (!check()) {
      if (Date.now() > end) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  it('a member sees a merge request opened, approved and merged (ids and kinds only); a member of another org sees nothing of it', async () => {
    const org = await newOrg(api, 'Live code');
    const other = await newOrg(api, 'Elsewhere');
    const reviewer = await addMember(api, org, 'member');
    const mine = await connect(reviewer);
    const theirs = await connect(other.admin);
    try {
      await until(() => mine.messages.length > 0 && theirs.messages.length > 0);
      const code = await codeFixture(org);
      const codeChanges = () => mine.messages.filter((m) => m.kind === 'code');
      const { mrId, headSha } = await code.open('live', { 'live.txt': 'secret contents' });
      await until(() => codeChanges().some((m) => m.type === 'MergeRequestOpened'));
      expect(codeChanges().find((m) => m.type === 'MergeRequestOpened')).toEqual({ kind: 'code', orgId: org.orgId, id: mrId, type: 'MergeRequestOpened' });

      await freshMfa(reviewer);
      expect((await code.approve(mrId, headSha, reviewer)).status).toBe(201);
      await projector.catchUp();
      await until(() => codeChanges().some((m) => m.type === 'MergeRequestApproved'));
      const [job] = await mergeJobs();
      expect(await mergeApprovedRequest(workerStore(), reposRoot, job!, { policyOf })).toBe('merged');
      await projector.catchUp();
      await until(() => codeChanges().some((m) => m.type === 'MergeRequestMerged'));
      expect(codeChanges().filter((m) => m.id === mrId).map((m) => m.type)).toEqual(['MergeRequestOpened', 'MergeRequestApproved', 'MergeRequestMerged']);
      expect(codeChanges().some((m) => m.type === 'RepositoryCreated' && m.id === code.repoId)).toBe(true);
      expect(JSON.stringify(mine.messages)).not.toContain('secret');

      await new Promise((r) => setTimeout(r, 300));
      expect(theirs.messages.filter((m) => m.kind !== 'welcome' && m.orgId !== other.orgId)).toEqual([]);
      expect(JSON.stringify(theirs.messages)).not.toContain(mrId);
    } finally {
      mine.socket.close();
      theirs.socket.close();
    }
  });
});
