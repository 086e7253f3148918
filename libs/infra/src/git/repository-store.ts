import { randomBytes } from 'node:crypto';
import { appendFile, mkdir, realpath, rename, rm, stat } from 'node:fs/promises';
import { basename, isAbsolute, join } from 'node:path';
import { git } from './git-command';
import { GitInvalidArgumentError, RepositoryExistsError, RepositoryNotFoundError } from './git-errors';
import { MAIN_REF, ZERO_OID, assertIdentity, assertUuid, gitDate } from './git-names';
import { HookOptions, installHooks } from './hooks/install-hooks';

export interface InitialCommit {
  authorName: string;
  authorEmail: string;
  message: string;
  /** Fixed, so the same inputs always give the same commit id. */
  date: Date;
  /** Top-level files of the first tree (name → UTF-8 content); none gives an empty tree. */
  files?: Record<string, string>;
}

export interface CreateRepositoryOptions extends HookOptions {
  defaultBranch: 'main';
  initialCommit: InitialCommit;
}

export interface CreatedRepository {
  path: string;
  mainCommit: string;
}

/**
 * Where a repository lives: `<root>/<orgId>/<repoId>.git`. Both ids must be lowercase UUIDs, so no id can climb
 * out of the root (`..`, `/`, NUL) or alias another on a case-insensitive file system.
 */
export function repositoryPath(root: string, orgId: string, repoId: string): string {
  if (!isAbsolute(root)) throw new GitInvalidArgumentError('root', 'must be an absolute path');
  return join(root, assertUuid('orgId', orgId), `${assertUuid('repoId', repoId)}.git`);
}

/** The path of an existing repository, or RepositoryNotFoundError. */
export async function openRepository(root: string, orgId: string, repoId: string): Promise<string> {
  const path = repositoryPath(root, orgId, repoId);
  const found = await stat(join(path, 'HEAD')).catch(() => null);
  if (!found?.isFile()) throw new RepositoryNotFoundError(`no repository ${orgId}/${repoId}`);
  return path;
}

/**
 * Creates a bare repository with one commit on `main`, built with plumbing from fixed inputs, Bastion's hooks and
 * the settings DESIGN §7 relies on. It is assembled in a hidden sibling directory and renamed into place, so a
 * half-made repository is never served.
 */
export async function createRepository(
  root: string,
  orgId: string,
  repoId: string,
  options: CreateRepositoryOptions,
): Promise<CreatedRepository> {
  const path = repositoryPath(root, orgId, repoId);
  if (options.defaultBranch !== 'main') throw new GitInvalidArgumentError('defaultBranch', "must be 'main'");
  const { initialCommit } = options;
  assertIdentity('initialCommit.author', {
    name: initialCommit.authorName,
    email: initialCommit.authorEmail,
    date: initialCommit.date,
  });
  const files = Object.entries(initialCommit.files ?? {});
  for (const [name] of files) {
    if (!/^[A-Za-z0-9._-]{1,255}$/.test(name) || name === '.' || name === '..' || name.toLowerCase() === '.git') {
      throw new GitInvalidArgumentError('initialCommit.files', `"${name}" is not a plain top-level file name`);
    }
  }
  if (await stat(path).catch(() => null)) throw new RepositoryExistsError(`repository ${orgId}/${repoId} exists`);

  await mkdir(join(root, orgId), { recursive: true, mode: 0o750 });
  const building = join(root, orgId, `.building-${repoId}-${randomBytes(6).toString('hex')}`);
  try {
    // No template: no sample hooks, no description file; only what we write below.
    await git(['init', '--quiet', '--bare', '--template=', '--object-format=sha1', '--initial-branch=main', building]);
    const mainCommit = await writeInitialCommit(building, initialCommit, files);
    // The pre-receive hook decides deletions and rewrites per namespace; these repo-wide switches cannot. Written
    // in one go (each `git config` is a process), values fixed here.
    await appendFile(
      join(building, 'config'),
      [
        '[receive]',
        '\tdenyDeletes = false',
        '\tdenyNonFastForwards = false',
        '\tfsckObjects = true',
        '[http]',
        '\treceivepack = true',
        '[core]',
        '\tlogAllRefUpdates = always',
        '',
      ].join('\n'),
    );
    // Hooks after the first commit (from here on `main` moves only with a merge token), before the rename (the
    // repository is never reachable without them), pointing at the final path.
    const servedAt = join(await realpath(join(root, orgId)), basename(path));
    await installHooks(building, { ...options, servedAt });
    await rename(building, path).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOTEMPTY' || error.code === 'EEXIST') {
        throw new RepositoryExistsError(`repository ${orgId}/${repoId} exists`);
      }
      throw error;
    });
    return { path, mainCommit };
  } finally {
    await rm(building, { recursive: true, force: true });
  }
}

async function writeInitialCommit(repo: string, commit: InitialCommit, files: [string, string][]): Promise<string> {
  const entries: string[] = [];
  for (const [name, content] of files.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const blob = await git(['hash-object', '-w', '--stdin'], { cwd: repo, input: content });
    entries.push(`100644 blob ${blob}\t${name}`);
  }
  const tree = await git(['mktree'], { cwd: repo, input: entries.length ? `${entries.join('\n')}\n` : '' });
  const date = gitDate(commit.date);
  const commitId = await git(['commit-tree', '--no-gpg-sign', tree, '-F', '-'], {
    cwd: repo,
    input: commit.message,
    env: {
      GIT_AUTHOR_NAME: commit.authorName,
      GIT_AUTHOR_EMAIL: commit.authorEmail,
      GIT_AUTHOR_DATE: date,
      GIT_COMMITTER_NAME: commit.authorName,
      GIT_COMMITTER_EMAIL: commit.authorEmail,
      GIT_COMMITTER_DATE: date,
    },
  });
  await git(['update-ref', '-m', 'bastion: initial commit', MAIN_REF, commitId, ZERO_OID], {
    cwd: repo,
    env: { GIT_COMMITTER_NAME: 'Bastion', GIT_COMMITTER_EMAIL: 'bastion@localhost' },
  });
  return commitId;
}
