import { chmod, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { git, runGit } from './git-command';
import { ZERO_OID } from './git-names';
import { MERGE_TOKEN_FILE } from './hooks/reference-transaction.hook';
import { EPOCH, newRepository, refValue, setRef, withTempRoot, writeCommit } from './testing/git-test-kit';

const TOKEN = 'f'.repeat(64);

describe('reference-transaction hook', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  let repo: { path: string; mainCommit: string };
  let next: string;

  beforeAll(async () => {
    ({ root, cleanup } = await withTempRoot());
    repo = await newRepository(root);
    next = await writeCommit(repo.path, { parents: [repo.mainCommit], files: { 'README.md': 'next\n' } });
  });
  afterAll(() => cleanup());
  afterEach(() => rm(join(repo.path, MERGE_TOKEN_FILE), { force: true }));

  const updateRef = (args: string[], env: Record<string, string> = {}) => runGit(['update-ref', ...args], { cwd: repo.path, env });

  it('refuses `git update-ref refs/heads/main` run directly on the bare repository without the merge token', async () => {
    const result = await updateRef(['refs/heads/main', next, repo.mainCommit]);

    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain('refs/heads/main moves only through an approved merge');
    expect(await refValue(repo.path, 'refs/heads/main')).toBe(repo.mainCommit);
  });

  it('refuses moving main through HEAD, deleting it, or a token that does not match the token file', async () => {
    await writeFile(join(repo.path, MERGE_TOKEN_FILE), TOKEN);
    const attempts = [
      updateRef(['HEAD', next]),
      updateRef(['-d', 'refs/heads/main']),
      updateRef(['refs/heads/main', next], { BASTION_MERGE_TOKEN: 'e'.repeat(64) }),
      updateRef(['refs/heads/main', next], { BASTION_MERGE_TOKEN: TOKEN.slice(0, 63) }),
    ];
    for (const result of await Promise.all(attempts)) expect(result.exitCode).not.toBe(0);
    // With the token in the environment but no token file, as after a merge finished.
    await rm(join(repo.path, MERGE_TOKEN_FILE));
    expect((await updateRef(['refs/heads/main', next], { BASTION_MERGE_TOKEN: TOKEN })).exitCode).not.toBe(0);
    expect(await refValue(repo.path, 'refs/heads/main')).toBe(repo.mainCommit);
  });

  it('allows the update when the environment carries the token written to the one-time token file', async () => {
    await writeFile(join(repo.path, MERGE_TOKEN_FILE), TOKEN, { mode: 0o600 });
    const moved = await updateRef(['refs/heads/main', next, repo.mainCommit], { BASTION_MERGE_TOKEN: TOKEN });
    expect(moved).toMatchObject({ exitCode: 0 });
    expect(await refValue(repo.path, 'refs/heads/main')).toBe(next);

    const back = await updateRef(['refs/heads/main', repo.mainCommit, next], { BASTION_MERGE_TOKEN: TOKEN });
    expect(back.exitCode).toBe(0);
  });

  it('allows no-op updates of main and leaves every other ref alone', async () => {
    expect((await updateRef(['refs/heads/main', repo.mainCommit, repo.mainCommit])).exitCode).toBe(0);
    expect((await updateRef(['refs/heads/main', repo.mainCommit])).exitCode).toBe(0);
    expect((await updateRef(['refs/heads/feature', next])).exitCode).toBe(0);
    expect((await updateRef(['-d', 'refs/heads/feature'])).exitCode).toBe(0);
  });

  it('lets `git pack-refs --all` and `git gc` succeed, and main keeps its value', async () => {
    await setRef(repo.path, 'refs/heads/other', next);

    const packed = await runGit(['pack-refs', '--all'], { cwd: repo.path });
    expect(packed).toMatchObject({ exitCode: 0, stderr: '' });
    expect(await readFile(join(repo.path, 'packed-refs'), 'utf8')).toContain(`${repo.mainCommit} refs/heads/main`);
    expect(await stat(join(repo.path, 'refs/heads/main')).catch(() => null)).toBeNull(); // the loose copy was pruned
    await setRef(repo.path, 'refs/heads/other', repo.mainCommit);
    expect(await runGit(['gc', '--quiet'], { cwd: repo.path })).toMatchObject({ exitCode: 0, stderr: '' });
    expect(await refValue(repo.path, 'refs/heads/main')).toBe(repo.mainCommit);
    expect(await git(['fsck', '--no-progress'], { cwd: repo.path })).toBe('');
  });

  it('still refuses deleting main once it is packed (a real deletion rewrites packed-refs under its lock)', async () => {
    await git(['pack-refs', '--all'], { cwd: repo.path });
    for (const args of [['-d', 'refs/heads/main'], ['-d', 'refs/heads/main', repo.mainCommit]]) {
      const result = await updateRef(args);
      expect(result.exitCode).not.toBe(0);
      expect(result.stderr).toContain('refs/heads/main moves only through an approved merge');
    }
    expect(await refValue(repo.path, 'refs/heads/main')).toBe(repo.mainCommit);
  });
});

describe('git 2.39 housekeeping, as the hook has to expect it', () => {
  it('runs reference-transaction for pack-refs with 0000… → <current> (packing) and <current> → 0000… (pruning)', async () => {
    const { root, cleanup } = await withTempRoot();
    try {
      const repo = join(root, 'plain.git');
      await git(['init', '--quiet', '--bare', '--template=', '--initial-branch=main', repo]);
      const commit = await writeCommit(repo, { parents: [], files: { a: 'a' }, date: EPOCH });
      await setRef(repo, 'refs/heads/main', commit);
      await mkdir(join(repo, 'hooks'));
      const log = join(root, 'log');
      await writeFile(join(repo, 'hooks', 'reference-transaction'), `#!/bin/sh\nsed "s/^/$1 /" >> '${log}'\n`);
      await chmod(join(repo, 'hooks', 'reference-transaction'), 0o755);

      await git(['pack-refs', '--all'], { cwd: repo });

      expect((await readFile(log, 'utf8')).split('\n').filter(Boolean)).toEqual([
        `prepared ${ZERO_OID} ${commit} refs/heads/main`,
        `committed ${ZERO_OID} ${commit} refs/heads/main`,
        `prepared ${commit} ${ZERO_OID} refs/heads/main`,
        `committed ${commit} ${ZERO_OID} refs/heads/main`,
      ]);
    } finally {
      await cleanup();
    }
  });
});
