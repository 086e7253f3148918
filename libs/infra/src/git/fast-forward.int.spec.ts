import { ZERO_OID } from './git-names';
import { GitInvalidArgumentError } from './git-errors';
import { isFastForward } from './fast-forward';
import { newRepository, withTempRoot, writeCommit } from './testing/git-test-kit';

describe('isFastForward', () => {
  it('is true for a descendant and a creation, false for a rewrite and a deletion', async () => {
    const { root, cleanup } = await withTempRoot();
    try {
      const { path, mainCommit } = await newRepository(root);
      const child = await writeCommit(path, { parents: [mainCommit], files: { a: '1' } });
      const sibling = await writeCommit(path, { parents: [mainCommit], files: { a: '2' } });

      expect(await isFastForward(path, mainCommit, child)).toBe(true);
      expect(await isFastForward(path, ZERO_OID, child)).toBe(true);
      expect(await isFastForward(path, child, sibling)).toBe(false);
      expect(await isFastForward(path, child, mainCommit)).toBe(false);
      expect(await isFastForward(path, child, ZERO_OID)).toBe(false);
      await expect(isFastForward(path, 'HEAD', child)).rejects.toThrow(GitInvalidArgumentError);
    } finally {
      await cleanup();
    }
  });
});
