/**
 * Agents cannot merge to main. Ever. With the real git CLI against the real smart-HTTP endpoint and hooks: an agent
 * clones, branches, pushes and opens a merge request; every path to main is tried and refused; a human approves
 * with fresh MFA; the merge saga (checkpointed reactor → BullMQ job → merge worker) moves main.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import type { Pool } from 'pg';
import { enqueueMergeWhenMergeRequestApproved } from '../../apps/projector/src/code/enqueue-merge-when-merge-request-approved.reactor';
import { enqueueTestRunWhenRequested } from '../../apps/projector/src/code/enqueue-test-run-when-requested.reactor';
import { mergeApprovedRequest } from '../../apps/worker/src/code/merge.processor';
import { runRequestedTests } from '../../apps/worker/src/code/test-run.processor';
import type { CodePolicy } from '../../libs/domain/src';
import { PostgresEventStore } from '../../libs/infra/src/event-store/postgres/postgres-event-store.adapter';
import { ProjectionRunner } from '../../libs/infra/src/projection/projection-runner';
import { JobQueue } from '../../libs/infra/src/queue/job-queue';
import { type MergeJob, QUEUES, type TestRunJob } from '../../libs/infra/src/queue/queues';
import { type TestApi, startTestApi } from '../support/api';
import { closePools, poolFor, type TestDatabase, workerDatabase } from '../support/database';
import { newEvent } from '../support/events';
import { call, decodeJwt } from '../support/http';
import { addMember, newOrg, type OrgFixture } from '../support/orgs';
import { catchUpReactor, TestProjector, waitForGate } from '../support/projector';
import { dropPrefix } from '../support/redis';
import { redisUrl } from '../support/services';
import { withPrincipal } from '../../libs/infra/src/database/with-principal';
import { type SignedIn, sessionCredentials } from '../support/identity';

let db: TestDatabase;
let api: TestApi;
let admin: Pool;
let projector: TestProjector;
let redis: Redis;
const work = mkdtempSync(join(tmpdir(), 'bastion-git-'));
const reposRoot = join(work, 'repos');

beforeAll(async () => {
  db = await workerDatabase();
  api = await startTestApi(db, { REPOS_ROOT: reposRoot });
  admin = poolFor(db.adminUrl);
  projector = new TestProjector(db);
  redis = new Redis(redisUrl());
});
afterAll(async () => {
  redis?.disconnect();
  await api?.close();
  await closePools();
  if (api) await dropPrefix(api.redisPrefix);
});

/** Asynchronous on purpose: the API under test runs in this process, so a blocking spawn would deadlock it. */
function git(cwd: string, ...args: string[]): Promise<{ status: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('git', args, {
      cwd,
      env: { PATH: process.env.PATH ?? '', HOME: work, GIT_TERMINAL_PROMPT: '0', GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@x' },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => resolve({ status: code ?? -1, out }));
  });
}

function urlWith(password: string, orgId: string, repoId: string): string {
  return `${api.base.replace('http://', `http://x:${encodeURIComponent(password)}@`)}/git/${orgId}/${repoId}.git`;
}

async function agentOf(org: OrgFixture, repoId: string) {
  const agentId = (await call(api, 'POST', `/v1/orgs/${org.orgId}/agents`, { token: org.admin.accessToken, body: { name: 'coder' } })).body.id as string;
  const key = (await call(api, 'POST', `/v1/orgs/${org.orgId}/agents/${agentId}/keys`, { token: org.admin.accessToken, body: {} })).body.key as string;
  await new TestProjector(db).catchUp();
  expect((await call(api, 'POST', `/v1/orgs/${org.orgId}/repos/${repoId}/agents`, { token: org.admin.accessToken, body: { agentId } })).status).toBe(204);
  const token = (await call(api, 'POST', '/v1/auth/agent-token', { body: { apiKey: key } })).body.accessToken as string;
  return { agentId, key, token };
}

function credentialsOf(token: string) {
  return sessionCredentials(api, token);
}

const policyOf = async (orgId: string): Promise<CodePolicy> => {
  const row = (await poolFor(db.urlFor('bastion_worker')).query('select * from authz.code_policy($1)', [orgId])).rows[0];
  return { requiredApprovals: row.required_approvals, requirePassingTests: row.require_passing_tests };
};

/**
 * The test-run jobs the projector's reactor enqueues from TestRunRequested for `orgId` (the reactor's checkpoint is
 * the worker database's, shared with other suites), run by the worker's processor (real bubblewrap).
 */
async function runTestJobs(orgId: string): Promise<string[]> {
  const queue = new JobQueue(QUEUES.testRuns, redis, api.redisPrefix);
  const projectorPool = poolFor(db.urlFor('bastion_projector'));
  await catchUpReactor(projectorPool, enqueueTestRunWhenRequested(new PostgresEventStore(projectorPool), queue));
  const jobs = (await queue.raw().getJobs(['waiting', 'delayed', 'prioritized'])).filter((job) => (job.data as TestRunJob).orgId === orgId);
  const workerStore = new PostgresEventStore(poolFor(db.urlFor('bastion_worker')));
  const outcomes: string[] = [];
  for (const job of jobs) {
    outcomes.push(await runRequestedTests(workerStore, reposRoot, job.data as TestRunJob, { limits: { timeoutMs: 60_000, memoryBytes: 1024 ** 3 } }));
    await job.remove();
  }
  await queue.close();
  return outcomes;
}

/**
 * The merge reactor's checkpoint is shared by every suite on this worker's database, so it may enqueue other suites'
 * approvals under this suite's Redis prefix: only this org's jobs run here; the others are dropped.
 */
async function runSaga(orgId: string): Promise<string[]> {
  const projectorPool = poolFor(db.urlFor('bastion_projector'));
  const queue = new JobQueue(QUEUES.merges, redis, api.redisPrefix);
  await waitForGate(projectorPool);
  await new ProjectionRunner(projectorPool, new PostgresEventStore(projectorPool), enqueueMergeWhenMergeRequestApproved(new PostgresEventStore(projectorPool), queue)).catchUp();
  const jobs = await queue.raw().getJobs(['waiting', 'delayed', 'prioritized']);
  const workerStore = new PostgresEventStore(poolFor(db.urlFor('bastion_worker')));
  const outcomes: string[] = [];
  for (const job of jobs) {
    if ((job.data as MergeJob).orgId === orgId) outcomes.push(await mergeApprovedRequest(workerStore, reposRoot, job.data as never, { policyOf }));
    await job.remove();
  }
  await queue.close();
  return outcomes;
}

describe('code governance: only a human approval moves main', () => {
  let org: OrgFixture;
  let repoId: string;
  let agent: Awaited<ReturnType<typeof agentOf>>;
  let reviewer: SignedIn;
  let clone: string;
  let mrId: string;
  let headSha: string;

  beforeAll(async () => {
    org = await newOrg(api);
    reviewer = await addMember(api, org, 'member');
    // This org requires a passing test run on the current head before approval and merge.
    await admin.query('update authz.sessions set mfa_at = now() where id = $1', [decodeJwt(org.admin.accessToken).payload.sid]);
    const policy = await call(api, 'PUT', `/v1/orgs/${org.orgId}/settings/merge-requests`, { token: org.admin.accessToken, body: { requiredApprovals: 1, requirePassingTests: true } });
    expect(policy.status).toBe(204);
    const created = await call(api, 'POST', `/v1/orgs/${org.orgId}/repos`, { token: org.admin.accessToken, body: { name: 'service' } });
    expect(created.status).toBe(201);
    repoId = created.body.id as string;
    expect(created.body.cloneUrl).toBe(`http://localhost:${new URL(api.base).port}/git/${org.orgId}/${repoId}.git`);
    agent = await agentOf(org, repoId);
    clone = join(work, `agent-${randomUUID()}`);
    expect((await git(work, 'clone', urlWith(agent.key, org.orgId, repoId), clone)).status).toBe(0);
  });

  it('an agent clones, branches, pushes its own namespace and opens a merge request', async () => {
    await git(clone, 'checkout', '-b', `agent/${agent.agentId}/feature`);
    writeFileSync(join(clone, 'feature.txt'), 'written by an agent\n');
    mkdirSync(join(clone, '.bastion'));
    writeFileSync(join(clone, '.bastion', 'ci.json'), JSON.stringify({ command: ['sh', '-c', 'grep -q "written by an agent" feature.txt'] }));
    await git(clone, 'add', '.');
    await git(clone, 'commit', '-m', 'Add feature');
    const pushed = await git(clone, 'push', 'origin', `agent/${agent.agentId}/feature`);
    expect(pushed.out).toMatch(/new branch/);
    expect(pushed.status).toBe(0);
    headSha = (await git(clone, 'rev-parse', 'HEAD')).out.trim();
    const opened = await call(api, 'POST', `/v1/orgs/${org.orgId}/repos/${repoId}/merge-requests`, {
      token: agent.token,
      body: { sourceBranch: `agent/${agent.agentId}/feature`, title: 'Add feature', description: 'please review' },
    });
    expect(opened.status).toBe(201);
    expect(opened.body.headSha).toBe(headSha);
    mrId = opened.body.id as string;
  });

  it('the agent runs the tests through the API; the sandboxed run on its head passes', async () => {
    const requested = await call(api, 'POST', `/v1/orgs/${org.orgId}/repos/${repoId}/merge-requests/${mrId}/test-runs`, { token: agent.token, body: { headSha } });
    expect(requested.status).toBe(202);
    expect(await runTestJobs(org.orgId)).toEqual(['passed']);
  });

  it.each([
    ['a direct push to main', ['push', 'origin', 'HEAD:main']],
    ['a force push to main', ['push', '--force', 'origin', 'HEAD:main']],
    ['a full refspec to main', ['push', 'origin', 'HEAD:refs/heads/main']],
    ['a tag', ['push', 'origin', 'HEAD:refs/tags/v1']],
    ['another agent’s namespace', ['push', 'origin', `HEAD:refs/heads/agent/${randomUUID()}/x`]],
  ])('an agent cannot move main or protected refs: %s is refused', async (_name, args) => {
    const result = await git(clone, ...(args as string[]));
    expect(result.status).not.toBe(0);
    expect(result.out).toMatch(/push refused|pre-receive hook declined/);
  });

  it('an atomic push that also updates an allowed branch is refused whole', async () => {
    const result = await git(clone, 'push', '--atomic', 'origin', `HEAD:refs/heads/agent/${agent.agentId}/other`, 'HEAD:main');
    expect(result.status).not.toBe(0);
    expect((await git(clone, 'ls-remote', 'origin', `refs/heads/agent/${agent.agentId}/other`)).out.trim()).toBe('');
  });

  it('every push, accepted or refused, is an event', async () => {
    const { rows } = await admin.query('select type from events where stream_id = $1 order by revision', [`repo-${repoId}`]);
    const types = rows.map((r) => r.type);
    expect(types.filter((t) => t === 'PushAccepted').length).toBeGreaterThanOrEqual(1);
    expect(types.filter((t) => t === 'PushRefused').length).toBeGreaterThanOrEqual(6);
  });

  it('an agent cannot approve over REST; an agent token replayed on the human route is refused', async () => {
    await projector.catchUp();
    const reply = await call(api, 'POST', `/v1/orgs/${org.orgId}/repos/${repoId}/merge-requests/${mrId}/approve`, { token: agent.token, body: { headSha } });
    expect(reply.status).toBe(401);
  });

  it('a forged MergeRequestApproved is refused by the events table, from an agent and from a human without fresh MFA', async () => {
    const forgeAs = async (token: string, actor: { type: 'human' | 'agent'; id: string }) => {
      const event = newEvent('MergeRequestApproved', { mrId, headSha, approverId: actor.id, requiredApprovals: 1, commit: {} }, { orgId: org.orgId, actor });
      return withPrincipal(poolFor(db.urlFor('bastion_app'), 2), credentialsOf(token), org.orgId, (tx) => new PostgresEventStore(tx).append(`mr-${mrId}`, [event], 'any')).then(
        () => 'appended',
        (e: { code?: string }) => e.code,
      );
    };
    expect(await forgeAs(agent.token, { type: 'agent', id: agent.agentId })).toBe('42501');
    expect(await forgeAs(reviewer.accessToken, { type: 'human', id: reviewer.userId })).toBe('42501');
  });

  it('a human without fresh MFA cannot approve; with it, the approval lands and the saga merges the approved head', async () => {
    const stale = await call(api, 'POST', `/v1/orgs/${org.orgId}/repos/${repoId}/merge-requests/${mrId}/approve`, { token: reviewer.accessToken, body: { headSha } });
    expect(stale.status).toBe(403);
    expect(stale.body.type).toBe('urn:bastion:problem:mr-mfa-not-fresh');
    await admin.query('update authz.sessions set mfa_at = now() where id = $1', [decodeJwt(reviewer.accessToken).payload.sid]);
    const wrongHead = await call(api, 'POST', `/v1/orgs/${org.orgId}/repos/${repoId}/merge-requests/${mrId}/approve`, { token: reviewer.accessToken, body: { headSha: 'f'.repeat(40) } });
    expect(wrongHead.status).toBe(409);
    expect((await call(api, 'POST', `/v1/orgs/${org.orgId}/repos/${repoId}/merge-requests/${mrId}/approve`, { token: reviewer.accessToken, body: { headSha } })).status).toBe(201);

    expect(await runSaga(org.orgId)).toEqual(['merged']);
    const fresh = join(work, `fresh-${randomUUID()}`);
    expect((await git(work, 'clone', urlWith(reviewer.accessToken, org.orgId, repoId), fresh)).status).toBe(0);
    expect((await git(fresh, 'log', '--format=%s', '-1')).out.trim()).toMatch(/^Merge merge request/);
    expect(execFileSync('cat', [join(fresh, 'feature.txt')], { encoding: 'utf8' })).toBe('written by an agent\n');

    const { rows } = await admin.query('select type, data, metadata from events where stream_id = $1 order by revision', [`mr-${mrId}`]);
    expect(rows.map((r) => r.type)).toEqual(['MergeRequestOpened', 'TestRunRequested', 'TestRunCompleted', 'MergeRequestApproved', 'MergeRequestMerged']);
    expect(rows.map((r) => r.metadata.actor.type)).toEqual(['agent', 'agent', 'system', 'human', 'system']);
    expect(rows.map((r) => r.data.headSha)).toEqual([headSha, headSha, headSha, headSha, headSha]);
    expect(rows[2].data).toMatchObject({ passed: true, exitCode: 0 });
    // The whole story across streams, in the store's global order: the policy, the agent's push, the merge request.
    const story = await admin.query(
      `select type from events where stream_id in ($1, $2, $3) and type in ('MergeRequestPolicyChanged', 'PushAccepted', 'MergeRequestOpened', 'TestRunRequested', 'TestRunCompleted', 'MergeRequestApproved', 'MergeRequestMerged') order by position`,
      [`org-${org.orgId}`, `repo-${repoId}`, `mr-${mrId}`],
    );
    expect(story.rows.map((r) => r.type)).toEqual(['MergeRequestPolicyChanged', 'PushAccepted', 'MergeRequestOpened', 'TestRunRequested', 'TestRunCompleted', 'MergeRequestApproved', 'MergeRequestMerged']);
    // The read model shows the whole story too.
    await projector.catchUp();
    const shown = await call(api, 'GET', `/v1/orgs/${org.orgId}/repos/${repoId}/merge-requests/${mrId}`, { token: reviewer.accessToken });
    expect(shown.body).toMatchObject({
      state: 'merged',
      headSha,
      approvals: [expect.objectContaining({ approverId: reviewer.userId, headSha })],
      testRuns: [expect.objectContaining({ headSha, status: 'passed' })],
    });
  });

  it('a replayed merge job never merges twice and never records a false failure', async () => {
    const workerStore = new PostgresEventStore(poolFor(db.urlFor('bastion_worker')));
    const job = { orgId: org.orgId, repoId, mrId, headSha, causationEventId: randomUUID(), correlationId: randomUUID() };
    expect(await mergeApprovedRequest(workerStore, reposRoot, job, { policyOf })).toBe('already-recorded');
    const { rows } = await admin.query("select count(*)::int as n from events where stream_id = $1 and type like 'MergeRequestMerge%'", [`mr-${mrId}`]);
    expect(rows[0].n).toBe(1);
  });

  it('humans cannot push to main either', async () => {
    const human = join(work, `human-${randomUUID()}`);
    expect((await git(work, 'clone', urlWith(org.admin.accessToken, org.orgId, repoId), human)).status).toBe(0);
    writeFileSync(join(human, 'direct.txt'), 'straight to main\n');
    await git(human, 'add', '.');
    await git(human, 'commit', '-m', 'direct');
    const result = await git(human, 'push', 'origin', 'HEAD:main');
    expect(result.status).not.toBe(0);
    expect(result.out).toMatch(/push refused/);
  });

  it('git over HTTP without valid credentials is refused', async () => {
    const result = await git(work, 'ls-remote', urlWith('not-a-token', org.orgId, repoId));
    expect(result.status).not.toBe(0);
  });
});
