/**
 * The same governance flow with the real processes: the built projector's reactor enqueues the test-run job from
 * TestRunRequested and the built worker runs it (its `test-runs` queue and limits wired in main.ts), and the
 * projector's merge reactor and the worker's merge processor move main after the human approval — nothing called by
 * hand.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pool } from 'pg';
import { type TestApi, startTestApi } from '../support/api';
import { closePools, poolFor, type TestDatabase, workerDatabase } from '../support/database';
import { eventually } from '../support/events';
import { call, decodeJwt } from '../support/http';
import { addMember, newOrg } from '../support/orgs';
import { type RunningApp, startApp, stopApp } from '../support/processes';
import { dropPrefix } from '../support/redis';
import { redisUrl } from '../support/services';

const dir = mkdtempSync(join(tmpdir(), 'bastion-governance-processes-'));
const reposRoot = join(dir, 'repos');
let db: TestDatabase;
let api: TestApi;
let admin: Pool;
const running: RunningApp[] = [];

beforeAll(async () => {
  db = await workerDatabase();
  api = await startTestApi(db, { REPOS_ROOT: reposRoot });
  admin = poolFor(db.adminUrl);
  const env = {
    DATABASE_URL: db.adminUrl,
    REDIS_URL: redisUrl(),
    REDIS_PREFIX: api.redisPrefix,
    PROJECTOR_POLL_MS: '20',
    JWT_KEYS_DIR: join(dir, 'jwt'),
    BASTION_SERVER_SECRET_FILE: join(dir, 'server-secret'),
    FERNET_KEYS_FILE: join(dir, 'fernet'),
    AUDIT_KEYS_DIR: join(dir, 'audit'),
    MAIL_OUTBOX: join(dir, 'mail'),
    REPOS_ROOT: reposRoot,
    TEST_RUN_TIMEOUT_MS: '60000',
    TEST_RUN_MEMORY_MB: '1024',
  };
  running.push(startApp('projector', env), startApp('worker', env));
});
afterAll(async () => {
  await Promise.all(running.map((app) => stopApp(app, 'SIGTERM')));
  await api?.close();
  await closePools();
  if (api) await dropPrefix(api.redisPrefix);
});

function git(cwd: string, ...args: string[]): Promise<{ status: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('git', args, {
      cwd,
      env: { PATH: process.env.PATH ?? '', HOME: dir, GIT_TERMINAL_PROMPT: '0', GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@x' },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => resolve({ status: code ?? -1, out }));
  });
}

const typesOf = async (mrId: string) => (await admin.query('select type from events where stream_id = $1 order by revision', [`mr-${mrId}`])).rows.map((r) => r.type as string);

describe('code governance with the real worker and projector processes', () => {
  it('the worker runs the requested tests in the sandbox, the org requires them, a human approves, and the saga merges', async () => {
    const org = await newOrg(api);
    const reviewer = await addMember(api, org, 'member');
    await admin.query('update authz.sessions set mfa_at = now() where id = $1', [decodeJwt(org.admin.accessToken).payload.sid]);
    const policy = { requiredApprovals: 1, requirePassingTests: true };
    expect((await call(api, 'PUT', `/v1/orgs/${org.orgId}/settings/merge-requests`, { token: org.admin.accessToken, body: policy })).status).toBe(204);
    const repoId = (await call(api, 'POST', `/v1/orgs/${org.orgId}/repos`, { token: org.admin.accessToken, body: { name: 'service' } })).body.id as string;
    const agentId = (await call(api, 'POST', `/v1/orgs/${org.orgId}/agents`, { token: org.admin.accessToken, body: { name: 'coder' } })).body.id as string;
    const key = (await call(api, 'POST', `/v1/orgs/${org.orgId}/agents/${agentId}/keys`, { token: org.admin.accessToken, body: {} })).body.key as string;
    await eventually(async () => ((await admin.query('select 1 from agents where agent_id = $1', [agentId])).rowCount ? true : undefined));
    expect((await call(api, 'POST', `/v1/orgs/${org.orgId}/repos/${repoId}/agents`, { token: org.admin.accessToken, body: { agentId } })).status).toBe(204);
    const token = (await call(api, 'POST', '/v1/auth/agent-token', { body: { apiKey: key } })).body.accessToken as string;

    const clone = join(dir, `clone-${randomUUID()}`);
    expect((await git(dir, 'clone', `${api.base.replace('http://', `http://x:${encodeURIComponent(key)}@`)}/git/${org.orgId}/${repoId}.git`, clone)).status).toBe(0);
    const branch = `agent/${agentId}/feature`;
    await git(clone, 'checkout', '-b', branch);
    mkdirSync(join(clone, '.bastion'));
    writeFileSync(join(clone, '.bastion', 'ci.json'), JSON.stringify({ command: ['sh', '-c', 'test "$(cat feature.txt)" = ready'] }));
    writeFileSync(join(clone, 'feature.txt'), 'ready');
    await git(clone, 'add', '-A');
    await git(clone, 'commit', '-m', 'feature');
    expect((await git(clone, 'push', 'origin', branch)).status).toBe(0);
    const headSha = (await git(clone, 'rev-parse', 'HEAD')).out.trim();
    const base = `/v1/orgs/${org.orgId}/repos/${repoId}/merge-requests`;
    const mrId = (await call(api, 'POST', base, { token, body: { sourceBranch: branch, title: 'Feature' } })).body.id as string;

    expect((await call(api, 'POST', `${base}/${mrId}/test-runs`, { token, body: { headSha } })).status).toBe(202);
    await eventually(async () => ((await typesOf(mrId)).includes('TestRunCompleted') ? true : undefined), 60_000);
    const shown = await eventually(async () => {
      const reply = await call(api, 'GET', `${base}/${mrId}`, { token: reviewer.accessToken });
      return (reply.body.testRuns as { status: string }[] | undefined)?.[0]?.status === 'passed' ? reply : undefined;
    });
    expect(shown.body.testRuns).toEqual([expect.objectContaining({ headSha, status: 'passed', exitCode: 0 })]);

    await admin.query('update authz.sessions set mfa_at = now() where id = $1', [decodeJwt(reviewer.accessToken).payload.sid]);
    expect((await call(api, 'POST', `${base}/${mrId}/approve`, { token: reviewer.accessToken, body: { headSha } })).status).toBe(201);
    await eventually(async () => ((await typesOf(mrId)).includes('MergeRequestMerged') ? true : undefined), 60_000);
    expect(await typesOf(mrId)).toEqual(['MergeRequestOpened', 'TestRunRequested', 'TestRunCompleted', 'MergeRequestApproved', 'MergeRequestMerged']);
    const fresh = join(dir, `fresh-${randomUUID()}`);
    expect((await git(dir, 'clone', `${api.base.replace('http://', `http://x:${encodeURIComponent(reviewer.accessToken)}@`)}/git/${org.orgId}/${repoId}.git`, fresh)).status).toBe(0);
    expect((await git(fresh, 'show', 'HEAD:feature.txt')).out).toBe('ready');
  });
});
