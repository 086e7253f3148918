import { chmod, copyFile, readdir, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SigningKeyFileExposedError, SigningKeyFileInvalidError } from './jwt-errors';
import { KeyDirectory } from './key-directory';
import { generateSigningKey, withRetirement } from './signing-keys';
import { at, failureOf, rfc7638Thumbprint, T0, withTemporaryDirectory } from './testing/jwt-test-kit';

const mode = async (path: string) => (await stat(path)).mode & 0o777;

describe('the key directory', () => {
  it('key files are written 0600 in a directory of mode 0700', () =>
    withTemporaryDirectory(async (root) => {
      const directory = new KeyDirectory(join(root, 'keys'));
      const [key] = await directory.loadOrGenerate(T0);
      expect(await mode(directory.path)).toBe(0o700);
      expect(await mode(join(directory.path, `${key!.kid}.json`))).toBe(0o600);
    }));

  it('a rewritten key file stays 0600 and leaves no temporary file behind', () =>
    withTemporaryDirectory(async (path) => {
      const directory = new KeyDirectory(path);
      const [key] = await directory.loadOrGenerate(T0);
      await directory.write(withRetirement(key!, at(300)));
      expect(await readdir(path)).toEqual([`${key!.kid}.json`]);
      expect(await mode(join(path, `${key!.kid}.json`))).toBe(0o600);
    }));

  it('a 0644 key file is refused with a clear message', () =>
    withTemporaryDirectory(async (path) => {
      const directory = new KeyDirectory(path);
      const [key] = await directory.loadOrGenerate(T0);
      const file = join(path, `${key!.kid}.json`);
      await chmod(file, 0o644);
      await expect(directory.load()).rejects.toBeInstanceOf(SigningKeyFileExposedError);
      await expect(directory.load()).rejects.toThrow(
        `Refusing to load signing key file ${file}: its mode is 0644, so other users on this machine can read or replace it; run \`chmod 600 ${file}\`.`,
      );
    }));

  it.each(['0640', '0604', '0620', '0602'])('a key file other users can reach (mode %s) is refused', (fileMode) =>
    withTemporaryDirectory(async (path) => {
      const directory = new KeyDirectory(path);
      const [key] = await directory.loadOrGenerate(T0);
      await chmod(join(path, `${key!.kid}.json`), parseInt(fileMode, 8));
      await expect(directory.load()).rejects.toMatchObject({ code: 'KEYS.FILE_EXPOSED' });
    }));

  it('generates a first key only into an empty directory, and loads the same key afterwards', () =>
    withTemporaryDirectory(async (path) => {
      const directory = new KeyDirectory(path);
      const [first, ...others] = await directory.loadOrGenerate(T0);
      expect(others).toEqual([]);
      expect(first!.signsFrom).toEqual(T0);
      const again = await directory.loadOrGenerate(at(60));
      expect(again.map((key) => key.kid)).toEqual([first!.kid]);
    }));

  it('a key survives the round trip through its file, kid and dates included', () =>
    withTemporaryDirectory(async (path) => {
      const directory = new KeyDirectory(path);
      const key = withRetirement(await generateSigningKey(T0, at(300)), at(900));
      await directory.write(key);
      const [loaded] = await directory.load();
      expect(loaded).toMatchObject({ kid: key.kid, publicJwk: key.publicJwk, createdAt: T0, signsFrom: at(300), retiredAt: at(900) });
      expect(loaded!.privateKey.equals(key.privateKey)).toBe(true);
      expect(loaded!.kid).toBe(rfc7638Thumbprint(key.publicJwk));
    }));

  it('a key file named by a kid that is not its thumbprint is refused', () =>
    withTemporaryDirectory(async (path) => {
      const directory = new KeyDirectory(path);
      const [key] = await directory.loadOrGenerate(T0);
      const other = 'A'.repeat(43);
      await copyFile(join(path, `${key!.kid}.json`), join(path, `${other}.json`));
      await chmod(join(path, `${other}.json`), 0o600);
      await expect(directory.load()).rejects.toBeInstanceOf(SigningKeyFileInvalidError);
    }));

  it('a key file that is a symbolic link is refused', () =>
    withTemporaryDirectory(async (root) => {
      const directory = new KeyDirectory(join(root, 'keys'));
      const elsewhere = new KeyDirectory(join(root, 'elsewhere'));
      const [key] = await elsewhere.loadOrGenerate(T0);
      await directory.loadOrGenerate(T0);
      await symlink(join(elsewhere.path, `${key!.kid}.json`), join(directory.path, `${key!.kid}.json`));
      await expect(directory.load()).rejects.toMatchObject({ code: 'KEYS.FILE_INVALID', message: expect.stringContaining('symbolic link') });
    }));

  it('a file that is not a key file is refused, and its contents are not echoed', () =>
    withTemporaryDirectory(async (path) => {
      await writeFile(join(path, 'notes.json'), '{"secret": "do-not-print"}', { mode: 0o600 });
      const failure = await failureOf(new KeyDirectory(path).load());
      expect(failure).toBeInstanceOf(SigningKeyFileInvalidError);
      expect(failure.message).not.toContain('do-not-print');
    }));

  it('a directory that does not exist holds no keys', async () => {
    await expect(new KeyDirectory('/nonexistent/bastion/keys').load()).resolves.toEqual([]);
  });
});
