import { randomBytes } from 'node:crypto';
import { open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { git, resolveRef, runGit } from './git-command';
import { GitCommandError, MainMovedError, MergeConflictError, MergeInProgressError } from './git-errors';
import { GitIdentity, MAIN_REF, assertIdentity, assertObjectId, gitDate } from './git-names';
import { MERGE_TOKEN_FILE } from './hooks/reference-transaction.hook';

export interface MergeApprovedInput {
  /** The head SHA the humans approved — never the branch tip, which may have moved since. */
  headSha: string;
  /** Where main was when the approval was given; the new commit's first parent. */
  expectedMain: string;
  /** Taken from the approval event, so a retried job builds byte-for-byte the same commit. */
  author: GitIdentity;
  committer: GitIdentity;
  message: string;
}

export type MergeOutcome = { outcome: 'merged'; commit: string } | { outcome: 'already-merged'; commit: string };

/** A token file older than this was left by a crashed merge; a live one exists for milliseconds. */
const STALE_TOKEN_MS = 5 * 60_000;

/**
 * The only way `main` moves (DESIGN §7): a merge of the approved head into the expected main, committed with the
 * approval's identities and dates, then a compare-and-swap of `refs/heads/main` under a one-time token that the
 * reference-transaction hook checks.
 *
 * Idempotent: the commit id depends only on the inputs, so when main already is that commit (or contains it, a later
 * merge having landed on top) the outcome is `already-merged`, never a failure. Otherwise a main that moved away
 * from `expectedMain` is `MainMovedError`, a conflict is `MergeConflictError` with the paths.
 */
export async function mergeApproved(repoPath: string, input: MergeApprovedInput): Promise<MergeOutcome> {
  const headSha = assertObjectId('headSha', input.headSha);
  const expectedMain = assertObjectId('expectedMain', input.expectedMain);
  assertIdentity('author', input.author);
  assertIdentity('committer', input.committer);
  if (typeof input.message !== 'string' || input.message.trim() === '' || input.message.includes('\0')) {
    throw new TypeError('message must be non-empty text without NUL');
  }

  const commit = await buildMergeCommit(repoPath, { ...input, headSha, expectedMain });
  const before = await resolveRef(repoPath, MAIN_REF);
  if (await containsCommit(repoPath, before, commit)) return { outcome: 'already-merged', commit };
  if (before !== expectedMain) throw new MainMovedError(expectedMain, before);

  const updated = await withMergeToken(repoPath, (token) =>
    runGit(['update-ref', '-m', `bastion: merge ${headSha}`, MAIN_REF, commit, expectedMain], {
      cwd: repoPath,
      env: {
        BASTION_MERGE_TOKEN: token,
        GIT_COMMITTER_NAME: input.committer.name,
        GIT_COMMITTER_EMAIL: input.committer.email,
      },
    }),
  );
  if (updated.exitCode === 0) return { outcome: 'merged', commit };
  // Lost a race: another run of this job may have landed the same commit, or someone else moved main.
  const after = await resolveRef(repoPath, MAIN_REF);
  if (await containsCommit(repoPath, after, commit)) return { outcome: 'already-merged', commit };
  if (after !== expectedMain) throw new MainMovedError(expectedMain, after);
  throw new GitCommandError(['update-ref', MAIN_REF], updated.exitCode, updated.stderr);
}

async function buildMergeCommit(
  repoPath: string,
  input: MergeApprovedInput,
): Promise<string> {
  const args = ['merge-tree', '--write-tree', '-z', '--name-only', '--no-messages', input.expectedMain, input.headSha];
  const merged = await runGit(args, { cwd: repoPath });
  const fields = merged.stdout.toString('utf8').split('\0');
  if (merged.exitCode === 1) {
    // `<tree>\0<path>\0<path>\0…\0`: the conflicted paths, each once.
    throw new MergeConflictError(fields.slice(1).filter((p) => p !== ''));
  }
  if (merged.exitCode !== 0) throw new GitCommandError(args, merged.exitCode, merged.stderr);
  const tree = assertObjectId('tree', fields[0]);
  return git(['commit-tree', '--no-gpg-sign', tree, '-p', input.expectedMain, '-p', input.headSha, '-F', '-'], {
    cwd: repoPath,
    input: input.message,
    env: {
      GIT_AUTHOR_NAME: input.author.name,
      GIT_AUTHOR_EMAIL: input.author.email,
      GIT_AUTHOR_DATE: gitDate(input.author.date),
      GIT_COMMITTER_NAME: input.committer.name,
      GIT_COMMITTER_EMAIL: input.committer.email,
      GIT_COMMITTER_DATE: gitDate(input.committer.date),
    },
  });
}

async function containsCommit(repoPath: string, main: string | null, commit: string): Promise<boolean> {
  if (main === null) return false;
  if (main === commit) return true;
  const result = await runGit(['merge-base', '--is-ancestor', commit, main], { cwd: repoPath });
  if (result.exitCode === 0 || result.exitCode === 1) return result.exitCode === 0;
  throw new GitCommandError(['merge-base', '--is-ancestor'], result.exitCode, result.stderr);
}

/**
 * Writes a fresh random token to `<repo>/bastion-merge-token` (created exclusively, 0600), runs `update` with it,
 * and deletes the file whatever happens. One merge per repository at a time: a live token file means another merge
 * is under way.
 */
async function withMergeToken<T>(repoPath: string, update: (token: string) => Promise<T>): Promise<T> {
  const path = join(repoPath, MERGE_TOKEN_FILE);
  const token = randomBytes(32).toString('hex');
  const inProgress = () => new MergeInProgressError('another merge is updating main in this repository');
  const create = () =>
    open(path, 'wx', 0o600).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'EEXIST') return null;
      throw error;
    });
  let file = await create();
  if (!file) {
    const left = await stat(path).catch(() => null);
    if (left && Date.now() - left.mtimeMs < STALE_TOKEN_MS) throw inProgress();
    await rm(path, { force: true });
    file = await create();
    if (!file) throw inProgress();
  }
  try {
    await file.writeFile(token, 'utf8');
    await file.close();
    return await update(token);
  } finally {
    await file.close().catch(() => undefined);
    await rm(path, { force: true });
  }
}
