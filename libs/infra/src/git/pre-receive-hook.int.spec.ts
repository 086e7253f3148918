import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { ServerResponse } from 'node:http';
import { PushPrincipal, RefUpdate, decidePush } from './push-policy';
import {
  PolicyServer,
  close,
  json,
  listen,
  newRepository,
  refValue,
  startPolicyServer,
  withTempRoot,
  workingClone,
} from './testing/git-test-kit';
import { GitRunResult } from './git-command';

/**
 * Real pushes over file:// into a repository with Bastion's hooks: the pre-receive hook asks a policy endpoint
 * (here a stand-in that runs decidePush, as the API will) and refuses on anything but an explicit yes.
 */
const AGENT_ID = randomUUID();
const PRINCIPALS: Record<string, PushPrincipal> = {
  'Bearer agent-push-token': { type: 'agent', id: AGENT_ID },
  'Bearer human-push-token': { type: 'human', id: randomUUID() },
};
const mine = (name: string) => `refs/heads/agent/${AGENT_ID}/${name}`;

describe('pre-receive hook', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  let repo: { path: string; mainCommit: string };
  let url: string;
  let clone: (args: string[], env?: Record<string, string>) => Promise<GitRunResult>;
  let policy: PolicyServer;
  let answer: (body: unknown, authorization: string | undefined, res: ServerResponse) => void;

  const asPolicy = (body: unknown, authorization: string | undefined, res: ServerResponse) => {
    const principal = authorization ? PRINCIPALS[authorization] : undefined;
    if (!principal) return json(res, 401, { allowed: false, message: 'unknown push token' });
    const { allowed, message } = decidePush(principal, (body as { updates: RefUpdate[] }).updates);
    json(res, 200, { allowed, message });
  };
  const push = (who: 'agent' | 'human', ...args: string[]) =>
    clone(['push', '--porcelain', url, ...args], {
      BASTION_HOOK_URL: policy.url,
      BASTION_PUSH_TOKEN: `${who}-push-token`,
    });
  const commit = async (message: string) => {
    await clone(['commit', '--quiet', '--allow-empty', '-m', message]);
    return (await clone(['rev-parse', 'HEAD'])).stdout.toString().trim();
  };

  beforeAll(async () => {
    ({ root, cleanup } = await withTempRoot());
    repo = await newRepository(root, { policyTimeoutMs: 1500 });
    url = `file://${repo.path}`;
    clone = await workingClone(url, join(root, 'work'));
    policy = await startPolicyServer((body, authorization, res) => answer(body, authorization, res));
  });
  beforeEach(() => {
    answer = asPolicy;
    policy.requests.length = 0;
  });
  afterAll(async () => {
    await policy.close();
    await cleanup();
  });

  it("lets an agent create, update, force-update and delete its own agent/<id>/* branch", async () => {
    const first = await commit('first');
    expect((await push('agent', `HEAD:${mine('work')}`)).exitCode).toBe(0);
    const second = await commit('second');
    expect((await push('agent', `HEAD:${mine('work')}`)).exitCode).toBe(0);
    expect(await refValue(repo.path, mine('work'))).toBe(second);

    await clone(['reset', '--quiet', '--hard', first]);
    const rewritten = await commit('rewritten');
    expect((await push('agent', '--force', `HEAD:${mine('work')}`)).exitCode).toBe(0);
    expect(await refValue(repo.path, mine('work'))).toBe(rewritten);
    expect(policy.requests.at(-1)).toEqual({
      authorization: 'Bearer agent-push-token',
      body: { updates: [{ ref: mine('work'), oldSha: second, newSha: rewritten, isFastForward: false }] },
    });

    expect((await push('agent', '--delete', mine('work'))).exitCode).toBe(0);
    expect(await refValue(repo.path, mine('work'))).toBeNull();
    await clone(['reset', '--quiet', '--hard', repo.mainCommit]);
  });

  it.each([
    ['main', ['HEAD:main']],
    ['HEAD:refs/heads/main', ['HEAD:refs/heads/main']],
    ['a force-push', ['--force', 'HEAD:refs/heads/main']],
    ['a deletion', ['--delete', 'refs/heads/main']],
  ])('refuses an agent pushing to main (%s)', async (_case, args) => {
    await commit('to main');
    const result = await push('agent', ...args);

    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain('main changes only through an approved merge request');
    expect(await refValue(repo.path, 'refs/heads/main')).toBe(repo.mainCommit);
    expect(policy.requests).toHaveLength(1);
    await clone(['reset', '--quiet', '--hard', repo.mainCommit]);
  });

  it.each([[['--atomic']], [[]]])(
    'refuses the whole push when it mixes an allowed and a refused ref (%j)',
    async (flags) => {
      await commit('mixed');
      const result = await push('agent', ...flags, `HEAD:${mine('mixed')}`, 'HEAD:refs/heads/main');

      expect(result.exitCode).not.toBe(0);
      expect(await refValue(repo.path, mine('mixed'))).toBeNull();
      expect(await refValue(repo.path, 'refs/heads/main')).toBe(repo.mainCommit);
      await clone(['reset', '--quiet', '--hard', repo.mainCommit]);
    },
  );

  it('refuses tags, from an agent and from a human', async () => {
    await clone(['tag', 'v1.0.0']);
    for (const who of ['agent', 'human'] as const) {
      const result = await push(who, 'refs/tags/v1.0.0');
      expect(result.exitCode).not.toBe(0);
      expect(result.stderr).toContain('tags cannot be pushed');
    }
    expect(await refValue(repo.path, 'refs/tags/v1.0.0')).toBeNull();
  });

  it("refuses an agent pushing into another agent's namespace or an ordinary branch", async () => {
    for (const ref of [`refs/heads/agent/${randomUUID()}/x`, 'refs/heads/feature']) {
      const result = await push('agent', `HEAD:${ref}`);
      expect(result.exitCode).not.toBe(0);
      expect(await refValue(repo.path, ref)).toBeNull();
    }
  });

  it('refuses a human pushing to main or to an agent branch, and lets them push and force-push a feature branch', async () => {
    await commit('human work');
    for (const ref of ['refs/heads/main', mine('by-human')]) {
      expect((await push('human', `HEAD:${ref}`)).exitCode).not.toBe(0);
    }
    expect(await refValue(repo.path, mine('by-human'))).toBeNull();
    expect((await push('human', 'HEAD:refs/heads/feature/login')).exitCode).toBe(0);
    await clone(['reset', '--quiet', '--hard', repo.mainCommit]);
    expect((await push('human', '--force', 'HEAD:refs/heads/feature/login')).exitCode).toBe(0);
    expect(await refValue(repo.path, 'refs/heads/feature/login')).toBe(repo.mainCommit);
  });

  describe('fails closed', () => {
    const expectRefused = async (result: GitRunResult, message: string) => {
      expect(result.exitCode).not.toBe(0);
      expect(result.stderr).toContain(message);
      expect(await refValue(repo.path, mine('closed'))).toBeNull();
    };

    it('when the policy URL does not answer (connection refused)', async () => {
      const server = createServer();
      const deadUrl = await listen(server);
      await close(server); // nothing listens there any more
      const result = await clone(['push', url, `HEAD:${mine('closed')}`], {
        BASTION_HOOK_URL: `${deadUrl}/hooks/pre-receive`,
        BASTION_PUSH_TOKEN: 'agent-push-token',
      });
      await expectRefused(result, 'push policy service is unreachable');
    });

    it('when the policy service does not answer in time', async () => {
      answer = () => undefined; // accepts the connection, never answers
      const started = Date.now();
      await expectRefused(await push('agent', `HEAD:${mine('closed')}`), 'did not answer in time');
      expect(Date.now() - started).toBeLessThan(10_000);
    });

    it('on a non-200 answer, even one whose body says allowed', async () => {
      answer = (_b, _a, res) => json(res, 500, { allowed: true, message: '' });
      await expectRefused(await push('agent', `HEAD:${mine('closed')}`), 'push refused');
    });

    it('on a 200 answer that is not {"allowed": true}', async () => {
      for (const body of ['yes', { allowed: 'true' }, {}, null]) {
        answer = (_b, _a, res) => json(res, 200, body);
        await expectRefused(await push('agent', `HEAD:${mine('closed')}`), 'push refused');
      }
    });

    it('when the push carries no push token', async () => {
      const result = await clone(['push', url, `HEAD:${mine('closed')}`], { BASTION_HOOK_URL: policy.url });
      await expectRefused(result, 'carries no push token');
      expect(policy.requests).toHaveLength(0);
    });
  });

  it('still refuses a push to main that a faulty policy service allows: reference-transaction is the second lock', async () => {
    answer = (_b, _a, res) => json(res, 200, { allowed: true, message: '' });
    await commit('sneaky');
    const result = await push('agent', 'HEAD:refs/heads/main');

    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain('refs/heads/main moves only through an approved merge');
    expect(await refValue(repo.path, 'refs/heads/main')).toBe(repo.mainCommit);
    await clone(['reset', '--quiet', '--hard', repo.mainCommit]);
  });
});
