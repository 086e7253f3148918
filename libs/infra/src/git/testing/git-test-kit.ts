import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { git, runGit, GitRunResult } from '../git-command';
import { CreateRepositoryOptions, createRepository } from '../repository-store';

/** Helpers for the git adapters' tests: real repositories in a temporary root, commits built with plumbing. */

export const EPOCH = new Date('2030-01-02T03:04:05Z');

export async function withTempRoot(): Promise<{ root: string; cleanup: () => Promise<void> }> {
  const root = await mkdtemp(join(tmpdir(), 'bastion-git-'));
  return { root, cleanup: () => rm(root, { recursive: true, force: true }) };
}

export async function newRepository(
  root: string,
  options: Partial<CreateRepositoryOptions> = {},
): Promise<{ path: string; orgId: string; repoId: string; mainCommit: string }> {
  const orgId = randomUUID();
  const repoId = randomUUID();
  const created = await createRepository(root, orgId, repoId, {
    defaultBranch: 'main',
    initialCommit: {
      authorName: 'Bastion',
      authorEmail: 'bastion@example.org',
      message: 'Initial commit\n',
      date: EPOCH,
      files: { 'README.md': '# demo\n' },
    },
    ...options,
  });
  return { ...created, orgId, repoId };
}

/**
 * Writes a commit straight into a (bare) repository: `files` is the whole tree (paths may nest), `parents` its
 * parents. Nothing moves a ref.
 */
export async function writeCommit(
  repoPath: string,
  commit: { parents: string[]; files: Record<string, string>; symlinks?: Record<string, string>; message?: string; date?: Date },
): Promise<string> {
  const index = join(tmpdir(), `bastion-index-${randomUUID()}`);
  try {
    const entries = [
      ...Object.entries(commit.files).map(([path, content]) => ['100644', path, content] as const),
      ...Object.entries(commit.symlinks ?? {}).map(([path, target]) => ['120000', path, target] as const),
    ];
    for (const [mode, path, content] of entries) {
      const blob = await git(['hash-object', '-w', '--stdin'], { cwd: repoPath, input: content });
      await git(['update-index', '--add', '--cacheinfo', `${mode},${blob},${path}`], {
        cwd: repoPath,
        env: { GIT_INDEX_FILE: index },
      });
    }
    const tree = entries.length
      ? await git(['write-tree'], { cwd: repoPath, env: { GIT_INDEX_FILE: index } })
      : await git(['mktree'], { cwd: repoPath, input: '' });
    const date = `${Math.floor((commit.date ?? EPOCH).getTime() / 1000)} +0000`;
    return await git(['commit-tree', tree, ...commit.parents.flatMap((p) => ['-p', p]), '-m', commit.message ?? 'change'], {
      cwd: repoPath,
      env: {
        GIT_AUTHOR_NAME: 'Agent',
        GIT_AUTHOR_EMAIL: 'agent@example.org',
        GIT_AUTHOR_DATE: date,
        GIT_COMMITTER_NAME: 'Agent',
        GIT_COMMITTER_EMAIL: 'agent@example.org',
        GIT_COMMITTER_DATE: date,
      },
    });
  } finally {
    await rm(index, { force: true });
  }
}

/** Moves a ref that is not main (main refuses without a merge token). */
export function setRef(repoPath: string, ref: string, commit: string): Promise<string> {
  return git(['update-ref', ref, commit], { cwd: repoPath });
}

export function refValue(repoPath: string, ref: string): Promise<string | null> {
  return runGit(['rev-parse', '--verify', '--quiet', ref], { cwd: repoPath }).then((r) =>
    r.exitCode === 0 ? r.stdout.toString('utf8').trim() : null,
  );
}

/** A working clone to push from, with an identity and fixed dates. */
export async function workingClone(url: string, dir: string): Promise<(args: string[], env?: Record<string, string>) => Promise<GitRunResult>> {
  await git(['clone', '--quiet', url, dir]);
  const identity = {
    GIT_AUTHOR_NAME: 'Pusher',
    GIT_AUTHOR_EMAIL: 'pusher@example.org',
    GIT_COMMITTER_NAME: 'Pusher',
    GIT_COMMITTER_EMAIL: 'pusher@example.org',
  };
  return (args, env = {}) => runGit(args, { cwd: dir, env: { ...identity, ...env } });
}

export interface PolicyServer {
  url: string;
  requests: { authorization: string | undefined; body: unknown }[];
  close: () => Promise<void>;
}

/** An HTTP endpoint standing in for the API's pre-receive route. */
export async function startPolicyServer(
  answer: (body: unknown, authorization: string | undefined, res: ServerResponse) => void,
): Promise<PolicyServer> {
  const requests: PolicyServer['requests'] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null');
      requests.push({ authorization: req.headers.authorization, body });
      answer(body, req.headers.authorization, res);
    });
  });
  return { url: `${await listen(server)}/hooks/pre-receive`, requests, close: () => close(server) };
}

export function listen(server: Server): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)),
  );
}

export function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

export function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
