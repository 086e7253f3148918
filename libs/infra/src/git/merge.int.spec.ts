import { readdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { git, runGit } from './git-command';
import { MainMovedError, MergeConflictError, MergeInProgressError } from './git-errors';
import { MERGE_TOKEN_FILE } from './hooks/reference-transaction.hook';
import { MergeApprovedInput, mergeApproved } from './merge';
import { newRepository, refValue, setRef, withTempRoot, writeCommit } from './testing/git-test-kit';

const APPROVED_AT = new Date('2030-02-03T04:05:06Z');
const approval = (headSha: string, expectedMain: string): MergeApprovedInput => ({
  headSha,
  expectedMain,
  author: { name: 'Agent Smith', email: 'agent@example.org', date: new Date('2030-02-01T00:00:00Z') },
  committer: { name: 'Ada Reviewer', email: 'ada@example.org', date: APPROVED_AT },
  message: 'Merge !42: fix login\n\nApproved-by: Ada Reviewer\n',
});

describe('mergeApproved', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => ({ root, cleanup } = await withTempRoot()));
  afterEach(() => cleanup());

  /** main has README.md; the agent's head adds src.txt and the approval names that head. */
  async function approvedBranch() {
    const repo = await newRepository(root);
    const head = await writeCommit(repo.path, {
      parents: [repo.mainCommit],
      files: { 'README.md': '# demo\n', 'src.txt': 'agent work\n' },
    });
    await setRef(repo.path, 'refs/heads/agent/a/fix', head);
    return { ...repo, head };
  }
  const tokenFilesLeft = async (path: string) => (await readdir(path)).filter((n) => n === MERGE_TOKEN_FILE);

  it('merges the approved head into main with the approval’s identities, dates and message', async () => {
    const { path, mainCommit, head } = await approvedBranch();

    const result = await mergeApproved(path, approval(head, mainCommit));

    expect(result.outcome).toBe('merged');
    expect(await refValue(path, 'refs/heads/main')).toBe(result.commit);
    expect(await git(['log', '-1', '--format=%P|%an <%ae> %aI|%cn <%ce> %cI|%B', result.commit], { cwd: path })).toBe(
      `${mainCommit} ${head}|Agent Smith <agent@example.org> 2030-02-01T00:00:00+00:00|` +
        `Ada Reviewer <ada@example.org> 2030-02-03T04:05:06+00:00|Merge !42: fix login\n\nApproved-by: Ada Reviewer\n`,
    );
    expect(await git(['show', `${result.commit}:src.txt`], { cwd: path })).toBe('agent work');
    expect(await tokenFilesLeft(path)).toEqual([]);
  });

  it('is idempotent: a retry builds the same commit id and reports already-merged, even after main moved on', async () => {
    const { path, mainCommit, head } = await approvedBranch();
    const first = await mergeApproved(path, approval(head, mainCommit));

    const retry = await mergeApproved(path, approval(head, mainCommit));
    expect(retry).toEqual({ outcome: 'already-merged', commit: first.commit });

    // A later merge lands on top; replaying the first job still must not report a failure.
    const later = await writeCommit(path, { parents: [first.commit], files: { 'README.md': 'later\n', 'src.txt': 'agent work\n' } });
    await setRef(path, 'refs/heads/agent/a/later', later);
    await mergeApproved(path, approval(later, first.commit));
    expect(await mergeApproved(path, approval(head, mainCommit))).toEqual({ outcome: 'already-merged', commit: first.commit });
  });

  it('merges the approved head, not the branch tip that moved after approval', async () => {
    const { path, mainCommit, head } = await approvedBranch();
    const pushedLater = await writeCommit(path, { parents: [head], files: { 'README.md': '# demo\n', 'evil.txt': 'x' } });
    await setRef(path, 'refs/heads/agent/a/fix', pushedLater);

    const { commit } = await mergeApproved(path, approval(head, mainCommit));

    expect(await git(['rev-parse', `${commit}^2`], { cwd: path })).toBe(head);
    expect((await runGit(['cat-file', '-e', `${commit}:evil.txt`], { cwd: path })).exitCode).not.toBe(0);
  });

  it('reports a conflict with the conflicted paths and leaves main alone', async () => {
    const repo = await newRepository(root);
    const ours = await writeCommit(repo.path, { parents: [repo.mainCommit], files: { 'README.md': 'ours\n', 'b.txt': 'x' } });
    const theirs = await writeCommit(repo.path, { parents: [repo.mainCommit], files: { 'README.md': 'theirs\n', 'b.txt': 'y' } });
    // main only moves through mergeApproved: move it there with a clean merge first.
    const base = await mergeApproved(repo.path, approval(ours, repo.mainCommit));

    const error = await mergeApproved(repo.path, approval(theirs, base.commit)).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(MergeConflictError);
    expect((error as MergeConflictError).paths).toEqual(['README.md', 'b.txt']);
    expect((error as MergeConflictError).code).toBe('GIT.MERGE_CONFLICT');
    expect(await refValue(repo.path, 'refs/heads/main')).toBe(base.commit);
    expect(await tokenFilesLeft(repo.path)).toEqual([]);
  });

  it('refuses with MainMovedError when main is no longer where the approval expected it', async () => {
    const { path, mainCommit, head } = await approvedBranch();
    const other = await writeCommit(path, { parents: [mainCommit], files: { 'README.md': '# demo\n', 'other.txt': 'o' } });
    const moved = await mergeApproved(path, approval(other, mainCommit));

    const error = await mergeApproved(path, approval(head, mainCommit)).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(MainMovedError);
    expect(error).toMatchObject({ code: 'GIT.MAIN_MOVED', expected: mainCommit, actual: moved.commit });
    expect(await refValue(path, 'refs/heads/main')).toBe(moved.commit);
  });

  it('refuses while another merge holds the token file, and takes over one left by a crash', async () => {
    const { path, mainCommit, head } = await approvedBranch();
    const tokenFile = join(path, MERGE_TOKEN_FILE);
    await writeFile(tokenFile, 'a'.repeat(64));

    await expect(mergeApproved(path, approval(head, mainCommit))).rejects.toThrow(MergeInProgressError);
    expect(await refValue(path, 'refs/heads/main')).toBe(mainCommit);

    const anHourAgo = new Date(Date.now() - 3_600_000);
    await utimes(tokenFile, anHourAgo, anHourAgo);
    expect((await mergeApproved(path, approval(head, mainCommit))).outcome).toBe('merged');
    expect(await tokenFilesLeft(path)).toEqual([]);
  });
});
