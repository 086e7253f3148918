import { runGit } from './git-command';
import { GitCommandError } from './git-errors';
import { ZERO_OID, assertObjectId } from './git-names';

/**
 * Whether moving a ref from `oldSha` to `newSha` rewrites nothing: `git merge-base --is-ancestor` on the bare
 * repository. A creation counts as a fast-forward, a deletion does not (the same convention as the pre-receive
 * hook, which computes this itself during a push because the pushed objects are still in quarantine then).
 */
export async function isFastForward(repoPath: string, oldSha: string, newSha: string): Promise<boolean> {
  assertObjectId('oldSha', oldSha);
  assertObjectId('newSha', newSha);
  if (oldSha === ZERO_OID) return true;
  if (newSha === ZERO_OID) return false;
  const args = ['merge-base', '--is-ancestor', oldSha, newSha];
  const result = await runGit(args, { cwd: repoPath });
  if (result.exitCode === 0) return true;
  if (result.exitCode === 1) return false;
  throw new GitCommandError(args, result.exitCode, result.stderr);
}
