import { randomUUID } from 'node:crypto';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { git } from './git-command';
import { GitInvalidArgumentError, RepositoryExistsError, RepositoryNotFoundError } from './git-errors';
import { hooksInstalled } from './hooks/install-hooks';
import { createRepository, openRepository, repositoryPath } from './repository-store';
import { EPOCH, newRepository, withTempRoot } from './testing/git-test-kit';

describe('createRepository', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => ({ root, cleanup } = await withTempRoot()));
  afterEach(() => cleanup());

  it('creates a bare repository at <root>/<orgId>/<repoId>.git that clones with main at the initial commit', async () => {
    const { path, orgId, repoId, mainCommit } = await newRepository(root);

    expect(path).toBe(join(root, orgId, `${repoId}.git`));
    expect(await git(['rev-parse', '--is-bare-repository'], { cwd: path })).toBe('true');
    const clone = join(root, 'clone');
    await git(['clone', '--quiet', path, clone]);
    expect(await git(['symbolic-ref', 'HEAD'], { cwd: clone })).toBe('refs/heads/main');
    expect(await git(['rev-parse', 'HEAD'], { cwd: clone })).toBe(mainCommit);
    expect(await readFile(join(clone, 'README.md'), 'utf8')).toBe('# demo\n');
    expect(await git(['log', '-1', '--format=%an <%ae> %at|%cn <%ce> %ct|%s'], { cwd: clone })).toBe(
      `Bastion <bastion@example.org> ${EPOCH.getTime() / 1000}|Bastion <bastion@example.org> ${EPOCH.getTime() / 1000}|Initial commit`,
    );
  });

  it('builds the same initial commit id from the same inputs (plumbing, fixed date)', async () => {
    const first = await newRepository(root);
    const second = await newRepository(root);
    expect(second.mainCommit).toBe(first.mainCommit);
    const empty = await newRepository(root, {
      initialCommit: { authorName: 'A', authorEmail: 'a@example.org', message: 'init', date: EPOCH },
    });
    expect(await git(['ls-tree', empty.mainCommit], { cwd: empty.path })).toBe('');
  });

  it('leaves deletions and rewrites to the hook, enables receive-pack over HTTP and points core.hooksPath at its own hooks', async () => {
    const { path } = await newRepository(root);
    const config = (key: string) => git(['config', '--file', join(path, 'config'), '--get', key]);

    expect(await config('receive.denyDeletes')).toBe('false');
    expect(await config('receive.denyNonFastForwards')).toBe('false');
    expect(await config('http.receivepack')).toBe('true');
    expect(await config('receive.fsckObjects')).toBe('true');
    expect(await config('core.hooksPath')).toBe(join(path, 'hooks'));
    expect((await readdir(join(path, 'hooks'))).sort()).toEqual([
      'bastion-pre-receive.cjs',
      'bastion-reference-transaction.cjs',
      'pre-receive',
      'reference-transaction',
    ]);
    expect((await stat(join(path, 'hooks', 'pre-receive'))).mode & 0o111).toBe(0o111);
    expect(await readFile(join(path, 'hooks', 'pre-receive'), 'utf8')).toContain(process.execPath);
    expect(await hooksInstalled(path)).toBe(true);
  });

  it('reports hooks as missing once one is removed, so the HTTP layer can refuse pushes to that repository', async () => {
    const { path } = await newRepository(root);
    await rm(join(path, 'hooks', 'pre-receive'));
    expect(await hooksInstalled(path)).toBe(false);
  });

  it('accepts only lowercase UUIDs as ids, so no id can reach outside the root', () => {
    const ok = randomUUID();
    for (const bad of ['..', '../x', `${ok}/..`, ok.toUpperCase(), '', 'x', `${ok}\0`, '/etc']) {
      expect(() => repositoryPath(root, bad, ok)).toThrow(GitInvalidArgumentError);
      expect(() => repositoryPath(root, ok, bad)).toThrow(GitInvalidArgumentError);
    }
    expect(() => repositoryPath('relative/root', ok, ok)).toThrow(GitInvalidArgumentError);
  });

  it('refuses a repository that already exists and leaves it as it was', async () => {
    const { orgId, repoId, mainCommit, path } = await newRepository(root);
    await expect(
      createRepository(root, orgId, repoId, {
        defaultBranch: 'main',
        initialCommit: { authorName: 'X', authorEmail: 'x@example.org', message: 'other', date: new Date(0) },
      }),
    ).rejects.toThrow(RepositoryExistsError);
    expect(await git(['rev-parse', 'refs/heads/main'], { cwd: path })).toBe(mainCommit);
    expect((await readdir(join(root, orgId))).filter((n) => n.startsWith('.building'))).toEqual([]);
  });

  it('opens an existing repository by ids and reports a missing one', async () => {
    const { orgId, repoId, path } = await newRepository(root);
    expect(await openRepository(root, orgId, repoId)).toBe(path);
    await expect(openRepository(root, orgId, randomUUID())).rejects.toThrow(RepositoryNotFoundError);
  });
});
