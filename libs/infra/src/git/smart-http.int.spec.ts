import { randomBytes, randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, IncomingMessage, request as httpRequest, Server, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { GitRunResult } from './git-command';
import { PushPrincipal, RefUpdate, decidePush } from './push-policy';
import { GitHttpOptions, GitHttpResult, serveGitHttp } from './smart-http';
import { close, json, listen, newRepository, refValue, withTempRoot, workingClone } from './testing/git-test-kit';

/**
 * A stand-in for the API: Basic auth maps a user to a principal, a push gets a one-time token, and the
 * pre-receive endpoint answers with decidePush for that token's principal.
 */
const AGENT_ID = randomUUID();
const USERS: Record<string, PushPrincipal> = { agent: { type: 'agent', id: AGENT_ID }, ada: { type: 'human', id: randomUUID() } };
const mine = (name: string) => `refs/heads/agent/${AGENT_ID}/${name}`;

describe('serveGitHttp', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  let repo: { path: string; orgId: string; repoId: string; mainCommit: string };
  let server: Server;
  let base: string;
  let overrides: Partial<GitHttpOptions>;
  const pushTokens = new Map<string, PushPrincipal>();
  const results: GitHttpResult[] = [];

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url!, 'http://localhost');
    if (url.pathname === '/hooks/pre-receive') {
      const principal = pushTokens.get((req.headers.authorization ?? '').replace(/^Bearer /, ''));
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      if (!principal) return json(res, 401, { allowed: false, message: 'unknown push token' });
      const { updates } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { updates: RefUpdate[] };
      const { allowed, message } = decidePush(principal, updates);
      return json(res, 200, { allowed, message });
    }
    const user = Buffer.from((req.headers.authorization ?? '').replace(/^Basic /, ''), 'base64').toString().split(':')[0]!;
    const principal = USERS[user];
    if (!principal) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="bastion"' });
      return res.end();
    }
    const token = randomBytes(32).toString('hex');
    pushTokens.set(token, principal);
    try {
      const result = await serveGitHttp(
        {
          method: req.method!,
          path: url.pathname.replace(/^\/git/, ''),
          query: url.search.replace(/^\?/, ''),
          headers: req.headers,
          body: req,
          remoteAddress: req.socket.remoteAddress ?? '',
        },
        res,
        { projectRoot: root, remoteUser: principal.id, push: { hookUrl: `${base}/hooks/pre-receive`, token }, ...overrides },
      );
      results.push(result);
    } finally {
      pushTokens.delete(token);
    }
  }

  beforeAll(async () => {
    ({ root, cleanup } = await withTempRoot());
    repo = await newRepository(root);
    server = createServer((req, res) => void handle(req, res));
    base = await listen(server);
  });
  beforeEach(() => {
    overrides = {};
    results.length = 0;
  });
  afterAll(async () => {
    await close(server);
    await cleanup();
  });

  const repoUrl = (user: string) => `${base.replace('http://', `http://${user}:secret@`)}/git/${repo.orgId}/${repo.repoId}.git`;
  let clones = 0;
  const cloneAs = (user: string) => workingClone(repoUrl(user), join(root, `clone-${(clones += 1)}`));
  const commitIn = async (run: (args: string[]) => Promise<GitRunResult>, message: string, bytes = 0) => {
    if (bytes) await writeFile(join(root, `clone-${clones}`, 'blob.bin'), randomBytes(bytes));
    await run(['add', '--all']);
    await run(['commit', '--quiet', '--allow-empty', '-m', message]);
    return (await run(['rev-parse', 'HEAD'])).stdout.toString().trim();
  };

  it('clones over smart HTTP (protocol v2) with main at the initial commit', async () => {
    const run = await cloneAs('ada');
    expect((await run(['rev-parse', 'HEAD'])).stdout.toString().trim()).toBe(repo.mainCommit);
    const v2 = await run(['-c', 'protocol.version=2', 'ls-remote', repoUrl('ada')], { GIT_TRACE_PACKET: '1' });
    expect(v2.stderr).toContain('version 2');
    expect(v2.stdout.toString()).toContain(`${repo.mainCommit}\trefs/heads/main`);
  });

  it('lets an agent push its own branch over HTTP and refuses its push to main', async () => {
    const run = await cloneAs('agent');
    const head = await commitIn(run, 'agent work');

    expect((await run(['push', 'origin', `HEAD:${mine('http')}`])).exitCode).toBe(0);
    expect(await refValue(repo.path, mine('http'))).toBe(head);

    const toMain = await run(['push', 'origin', 'HEAD:refs/heads/main']);
    expect(toMain.exitCode).not.toBe(0);
    expect(toMain.stderr).toContain('main changes only through an approved merge request');
    expect(await refValue(repo.path, 'refs/heads/main')).toBe(repo.mainCommit);
  });

  it('refuses a push without a push token before git runs', async () => {
    const run = await cloneAs('ada');
    await commitIn(run, 'no token');
    overrides = { push: undefined };

    const result = await run(['push', 'origin', 'HEAD:refs/heads/feature/no-token']);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toMatch(/403/);
    expect(await refValue(repo.path, 'refs/heads/feature/no-token')).toBeNull();
  });

  it('refuses a push over the size limit (declared or streamed) with 413, and nothing lands', async () => {
    const run = await cloneAs('ada');
    await commitIn(run, 'big', 64 * 1024);
    overrides = { maxPushBytes: 16 * 1024 };

    const declared = await run(['push', 'origin', 'HEAD:refs/heads/feature/big']);
    // A small http.postBuffer makes git stream the pack with chunked encoding, with no length up front.
    const streamed = await run(['-c', 'http.postBuffer=4096', 'push', 'origin', 'HEAD:refs/heads/feature/big']);
    for (const result of [declared, streamed]) {
      expect(result.exitCode).not.toBe(0);
      expect(result.stderr).toMatch(/413/);
    }
    const refused = results.filter((r) => r.status === 413);
    expect(refused.map((r) => [r.route?.service, r.tooLarge])).toEqual([['git-receive-pack', true], ['git-receive-pack', true]]);
    expect(refused[0]!.bytesIn).toBe(0); // refused on its Content-Length, before git ran
    expect(refused[1]!.bytesIn).toBeGreaterThan(16 * 1024); // counted while streaming, then cut
    expect(await refValue(repo.path, 'refs/heads/feature/big')).toBeNull();
  });

  it('gives git http-backend and the hooks none of the API’s environment', async () => {
    process.env.BASTION_TEST_API_SECRET = 'must-not-leak';
    const dump = join(root, 'hook-env.json');
    const hook = join(repo.path, 'hooks', 'bastion-pre-receive.cjs');
    const original = await readFile(hook, 'utf8');
    await writeFile(
      hook,
      `// Installed by Bastion (test double)\nrequire('fs').writeFileSync(${JSON.stringify(dump)}, JSON.stringify(process.env));\nprocess.exit(1);\n`,
    );
    try {
      const run = await cloneAs('ada');
      await commitIn(run, 'env');
      await run(['push', 'origin', 'HEAD:refs/heads/feature/env']);
    } finally {
      await writeFile(hook, original);
      delete process.env.BASTION_TEST_API_SECRET;
    }
    const env = JSON.parse(await readFile(dump, 'utf8')) as Record<string, string>;
    expect(env.BASTION_TEST_API_SECRET).toBeUndefined();
    expect(env.HOME).toBeUndefined();
    expect(env).toMatchObject({ BASTION_HOOK_URL: `${base}/hooks/pre-receive`, GIT_PROJECT_ROOT: root, REQUEST_METHOD: 'POST' });
    expect(env.BASTION_PUSH_TOKEN).toMatch(/^[0-9a-f]{64}$/);
    const fromParent = Object.keys(process.env).filter((key) => key !== 'PATH' && env[key] === process.env[key]);
    expect(fromParent).toEqual([]);
  });

  it('ends a request that outlives the timeout with 504 and stops git', async () => {
    overrides = { timeoutMs: 500 };
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        `${base}/git/${repo.orgId}/${repo.repoId}.git/git-upload-pack`,
        {
          method: 'POST',
          headers: { authorization: `Basic ${Buffer.from('ada:secret').toString('base64')}`, 'content-type': 'application/x-git-upload-pack-request' },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode!);
          req.destroy();
        },
      );
      req.on('error', reject);
      req.write('0000'); // and never end the body
    });
    expect(status).toBe(504);
    // serveGitHttp settles only once http-backend and its children have exited.
    for (let i = 0; i < 50 && results.length === 0; i += 1) await new Promise((r) => setTimeout(r, 100));
    expect(results).toMatchObject([{ status: 504, timedOut: true }]);
  });

  it('does not serve dumb HTTP paths such as HEAD or the objects directory', async () => {
    for (const path of ['HEAD', 'objects/info/packs', 'config', 'hooks/pre-receive']) {
      const res = await fetch(`${base}/git/${repo.orgId}/${repo.repoId}.git/${path}`, {
        headers: { authorization: `Basic ${Buffer.from('ada:secret').toString('base64')}` },
      });
      expect(res.status).toBe(404);
    }
  });
});
