/**
 * "Plaintext of an encrypted field never reaches PostgreSQL, the event store, Redis or a log" (DESIGN §9).
 *
 * A journey puts one unique marker into a task description (created, then edited), a merge-request description and
 * a merge-request comment, and around them does what a working org does: a live WebSocket client, a refused write
 * and an over-long one carrying the marker, an approval that the built projector (projections, reactors, the audit
 * sealer) turns into a BullMQ job that the built worker merges, an audit query and an audit export. The API runs in
 * this process; the projector and the worker are the built apps, on the same database and Redis prefix.
 *
 * Then everything at rest is dumped and searched for the marker — as text, hex and base64/base64url at every
 * alignment: `pg_dump` of the whole test database (read models, events, audit, authz; schema and data), every Redis
 * key with the test's prefix read by type (strings, hashes, lists, sets, sorted sets, streams), every pub/sub
 * message on the prefix's channels, the API's captured log lines and the projector's and worker's output (debug
 * level), the WebSocket messages, the audit query and export. Controls prove each search can find something: a
 * second marker in a task *title* (not sensitive) is found in the dump, the Redis dump holds the job the worker ran,
 * and the logs are not empty.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Redis from 'ioredis';
import type { Pool } from 'pg';
import { WebSocket } from 'ws';
import { repositoryPath } from '../../libs/infra/src/git/repository-store';
import { type TestApi, startTestApi } from '../support/api';
import { closePools, poolFor, type TestDatabase, workerDatabase } from '../support/database';
import { call, decodeJwt } from '../support/http';
import type { SignedIn } from '../support/identity';
import { addMember, newOrg } from '../support/orgs';
import { type RunningApp, startApp, stopApp } from '../support/processes';
import { dropPrefix } from '../support/redis';
import { dumpPrefix } from '../support/redis-dump';
import { redisUrl } from '../support/services';

const run = promisify(execFile);
const MARKER = `BYOK-PLAINTEXT-${randomUUID()}`;
const TITLE_MARKER = `NOT-SENSITIVE-TITLE-${randomUUID()}`;
const dir = mkdtempSync(join(tmpdir(), 'bastion-byok-plaintext-'));
const reposRoot = join(dir, 'repos');

let db: TestDatabase;
let api: TestApi;
let admin: Pool;
let listener: Redis;
const published: string[] = [];
const running: RunningApp[] = [];

/** The marker as any encoding a careless path might store it in: text, hex, base64 and base64url at each alignment. */
function spellings(marker: string): string[] {
  const bytes = Buffer.from(marker, 'utf8');
  const found = new Set<string>([marker, bytes.toString('hex')]);
  for (let offset = 0; offset < 3; offset++) {
    for (const encoding of ['base64', 'base64url'] as const) {
      // Encoded after `offset` arbitrary leading bytes; the first and last characters depend on neighbours: drop them.
      const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString(encoding).replace(/=+$/, '');
      found.add(encoded.slice(Math.ceil((offset * 4) / 3) + 1, -2));
    }
  }
  return [...found];
}

function leaksIn(haystack: string, marker = MARKER): string[] {
  return spellings(marker).filter((spelling) => haystack.includes(spelling));
}

/** Every key and value under the run's Redis prefix, as one text to search. */
async function dumpRedis(prefix: string): Promise<{ keys: string[]; text: string }> {
  const { keys, values } = await dumpPrefix(prefix);
  return { keys, text: [...keys, ...values].join('\n') };
}

async function eventually<T>(read: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function markMfaFresh(user: SignedIn): Promise<void> {
  await admin.query('update authz.sessions set mfa_at = now() where id = $1', [decodeJwt(user.accessToken).payload.sid]);
}

function connectLive(ticket: string): Promise<{ socket: WebSocket; messages: string[] }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${api.base.replace('http', 'ws')}/v1/ws?ticket=${ticket}`, { headers: { origin: api.origin } });
    const messages: string[] = [];
    socket.on('message', (data) => messages.push(String(data)));
    socket.on('error', reject);
    socket.on('open', () => resolve({ socket, messages }));
  });
}

beforeAll(async () => {
  db = await workerDatabase();
  api = await startTestApi(db, { REPOS_ROOT: reposRoot, AUDIT_KEYS_DIR: join(dir, 'audit') });
  admin = poolFor(db.adminUrl);
  listener = new Redis(redisUrl());
  listener.on('pmessageBuffer', (_pattern: Buffer, channel: Buffer, message: Buffer) => published.push(`${channel.toString()} ${message.toString('latin1')}`));
  await listener.psubscribe(`${api.redisPrefix}*`);
  const env = {
    DATABASE_URL: db.adminUrl,
    REDIS_URL: redisUrl(),
    REDIS_PREFIX: api.redisPrefix,
    PROJECTOR_POLL_MS: '20',
    LOG_LEVEL: 'debug',
    AUDIT_KEYS_DIR: join(dir, 'audit'),
    JWT_KEYS_DIR: join(dir, 'jwt'),
    BASTION_SERVER_SECRET_FILE: join(dir, 'server-secret'),
    FERNET_KEYS_FILE: join(dir, 'fernet'),
    MAIL_OUTBOX: join(dir, 'mail'),
    REPOS_ROOT: reposRoot,
  };
  running.push(startApp('projector', env), startApp('worker', env));
});

afterAll(async () => {
  await Promise.all(running.map((app) => stopApp(app, 'SIGTERM')));
  listener?.disconnect();
  await api?.close();
  await closePools();
  if (api) await dropPrefix(api.redisPrefix);
});

describe('plaintext of an encrypted field reaches no database, event, Redis key, message or log', () => {
  it('after a journey that writes a known marker into every sensitive field, no dump, message or log holds it', async () => {
    const org = await newOrg(api, 'Dump');
    const reviewer = await addMember(api, org, 'member');
    const viewer = await addMember(api, org, 'viewer');
    const ticket = await call(api, 'POST', '/v1/ws/tickets', { token: org.admin.accessToken });
    const live = await connectLive(ticket.body.ticket as string);
    const responses: string[] = [];
    const record = (body: unknown) => responses.push(JSON.stringify(body));

    // Tasks: created with the marker, edited with it again, a refused write and an over-long one carrying it.
    const created = await call(api, 'POST', `/v1/orgs/${org.orgId}/tasks`, {
      token: org.admin.accessToken,
      body: { title: TITLE_MARKER, description: `first draft: ${MARKER}` },
    });
    expect(created.status).toBe(201);
    const taskId = created.body.id as string;
    expect((await call(api, 'PATCH', `/v1/orgs/${org.orgId}/tasks/${taskId}`, { token: org.admin.accessToken, body: { description: `edited: ${MARKER}` } })).status).toBe(204);
    const refused = await call(api, 'POST', `/v1/orgs/${org.orgId}/tasks`, { token: viewer.accessToken, body: { title: 't', description: MARKER } });
    expect(refused.status).toBe(403);
    record(refused.body);
    const oversized = await call(api, 'POST', `/v1/orgs/${org.orgId}/tasks`, { token: org.admin.accessToken, body: { title: 't', description: `${MARKER}${'x'.repeat(20_000)}` } });
    expect(oversized.status).toBe(400);
    record(oversized.body);

    // Code: a merge request with the marker in its description, a comment with it, a human approval, the merge.
    const repo = await call(api, 'POST', `/v1/orgs/${org.orgId}/repos`, { token: org.admin.accessToken, body: { name: 'service' } });
    const repoId = repo.body.id as string;
    await run('git', ['--git-dir', repositoryPath(reposRoot, org.orgId, repoId), 'update-ref', 'refs/heads/feature', 'refs/heads/main']);
    const opened = await call(api, 'POST', `/v1/orgs/${org.orgId}/repos/${repoId}/merge-requests`, {
      token: org.admin.accessToken,
      body: { sourceBranch: 'feature', title: 'Add feature', description: `why: ${MARKER}` },
    });
    expect(opened.status).toBe(201);
    const mrId = opened.body.id as string;
    const mrPath = `/v1/orgs/${org.orgId}/repos/${repoId}/merge-requests/${mrId}`;
    expect((await call(api, 'POST', `${mrPath}/comments`, { token: reviewer.accessToken, body: { body: `looks fine: ${MARKER}` } })).status).toBe(201);
    await eventually(async () => ((await admin.query('select 1 from merge_requests where mr_id = $1', [mrId])).rowCount ? true : undefined));
    await markMfaFresh(reviewer);
    const approved = await call(api, 'POST', `${mrPath}/approve`, { token: reviewer.accessToken, body: { headSha: opened.body.headSha } });
    expect(approved.status).toBe(201);

    // Everything projected, the approval merged by the worker's job, the org's events sealed into the audit chain.
    await eventually(async () => {
      const { rows } = await admin.query<{ state: string }>('select state from merge_requests where mr_id = $1', [mrId]);
      return rows[0]?.state === 'merged' ? true : undefined;
    }, 30_000);
    await eventually(async () => {
      const { rows } = await admin.query<{ description: string }>('select description from tasks where task_id = $1', [taskId]);
      const [last] = (await admin.query<{ data: { description: string } }>("select data from events where stream_id = $1 and type = 'TaskUpdated'", [`task-${taskId}`])).rows;
      return rows[0] && last && rows[0].description === last.data.description ? true : undefined;
    });
    await eventually(async () => {
      const { rows } = await admin.query(
        `select (select count(*) from events where org_id = $1)::int as stored,
                coalesce((select count from audit.chain_heads where chain = 'org:' || $1), 0)::int as sealed`,
        [org.orgId],
      );
      return rows[0].stored === rows[0].sealed ? true : undefined;
    }, 30_000);

    // Reads in plaintext over HTTP to members, and only there.
    const task = await call(api, 'GET', `/v1/orgs/${org.orgId}/tasks/${taskId}`, { token: org.admin.accessToken });
    expect(task.body.description).toBe(`edited: ${MARKER}`);
    expect((await call(api, 'GET', mrPath, { token: reviewer.accessToken })).body.description).toBe(`why: ${MARKER}`);

    // The audit trail as admins read and export it carries ciphertext as stored, never the marker.
    const audit = await call(api, 'GET', `/v1/orgs/${org.orgId}/audit?limit=200`, { token: org.admin.accessToken });
    expect(audit.status).toBe(200);
    record(audit.body);
    await markMfaFresh(org.admin);
    const exported = await fetch(`${api.base}/v1/orgs/${org.orgId}/audit/export?format=jsonl`, { headers: { authorization: `Bearer ${org.admin.accessToken}` } });
    expect(exported.status).toBe(200);
    const exportText = await exported.text();
    expect(exportText).toContain(taskId);
    const csv = await fetch(`${api.base}/v1/orgs/${org.orgId}/audit/export?format=csv`, { headers: { authorization: `Bearer ${org.admin.accessToken}` } });
    expect(csv.status).toBe(200);
    responses.push(exportText, await csv.text());
    live.socket.close();

    // The dumps.
    const { stdout: pgDump } = await run('pg_dump', ['--dbname', db.adminUrl, '--no-owner'], { maxBuffer: 512 * 1024 * 1024 });
    const redis = await dumpRedis(api.redisPrefix);
    for (const app of running) await stopApp(app, 'SIGTERM');
    const logs = [api.logs.join('\n'), ...running.map((app) => app.output())].join('\n');

    // Controls: each search finds what is there to find.
    expect(leaksIn(pgDump, TITLE_MARKER)).toContain(TITLE_MARKER);
    expect(pgDump).toContain(taskId);
    expect(redis.keys.some((key) => key.includes(':bull:'))).toBe(true);
    expect(redis.text).toContain(mrId);
    expect(api.logs.join('\n')).toContain('Nest application successfully started');
    // The worker's log names the merge job, whose id holds the merge request's.
    expect(logs).toContain(`merge-${mrId}`);
    expect(live.messages.some((message) => message.includes(taskId))).toBe(true);
    expect(published.length).toBeGreaterThan(0);

    // The rule.
    expect({ where: 'pg_dump', leaks: leaksIn(pgDump) }).toEqual({ where: 'pg_dump', leaks: [] });
    expect({ where: 'redis', leaks: leaksIn(redis.text) }).toEqual({ where: 'redis', leaks: [] });
    expect({ where: 'pub/sub', leaks: leaksIn(published.join('\n')) }).toEqual({ where: 'pub/sub', leaks: [] });
    expect({ where: 'logs', leaks: leaksIn(logs) }).toEqual({ where: 'logs', leaks: [] });
    expect({ where: 'websocket', leaks: leaksIn(live.messages.join('\n')) }).toEqual({ where: 'websocket', leaks: [] });
    expect({ where: 'audit and refusals', leaks: leaksIn(responses.join('\n')) }).toEqual({ where: 'audit and refusals', leaks: [] });
  });
});
