import { chmod, copyFile, mkdtemp, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditKeyFileExposedError, AuditKeyFileInvalidError } from './audit-errors';
import { AuditKeyDirectory } from './audit-key-directory';
import { generateAuditKey, withRetirement } from './audit-keys';
import { at, T0 } from './testing/audit-test-kit';

const mode = async (path: string) => (await stat(path)).mode & 0o777;

async function withTemporaryDirectory(run: (path: string) => Promise<void>): Promise<void> {
  const path = await mkdtemp(join(tmpdir(), 'bastion-audit-keys-'));
  try {
    await run(path);
  } finally {
    await rm(path, { recursive: true, force: true });
  }
}

describe('the audit key directory', () => {
  it('audit key files are written 0600 in a directory of mode 0700', () =>
    withTemporaryDirectory(async (root) => {
      const directory = new AuditKeyDirectory(join(root, 'audit-keys'));
      const [key] = await directory.loadOrGenerate(T0);
      expect(await mode(directory.path)).toBe(0o700);
      expect(await mode(join(directory.path, `${key!.kid}.json`))).toBe(0o600);
    }));

  it('a key survives the round trip through its file, kid and dates included, and a rewrite leaves no temporary file', () =>
    withTemporaryDirectory(async (path) => {
      const directory = new AuditKeyDirectory(path);
      const key = generateAuditKey(T0);
      await directory.write(key);
      await directory.write(withRetirement(key, at(900)));
      expect(await readdir(path)).toEqual([`${key.kid}.json`]);
      const [loaded] = await directory.load();
      expect(loaded).toMatchObject({ kid: key.kid, publicJwk: key.publicJwk, createdAt: T0, retiredAt: at(900) });
      expect(loaded!.privateKey!.equals(key.privateKey!)).toBe(true);
    }));

  it('generates a first key only into an empty directory', () =>
    withTemporaryDirectory(async (path) => {
      const directory = new AuditKeyDirectory(path);
      const [first] = await directory.loadOrGenerate(T0);
      expect((await directory.loadOrGenerate(at(60))).map((key) => key.kid)).toEqual([first!.kid]);
    }));

  it.each(['0644', '0640', '0604'])('a key file other users can reach (mode %s) is refused', (fileMode) =>
    withTemporaryDirectory(async (path) => {
      const directory = new AuditKeyDirectory(path);
      const [key] = await directory.loadOrGenerate(T0);
      await chmod(join(path, `${key!.kid}.json`), parseInt(fileMode, 8));
      await expect(directory.load()).rejects.toBeInstanceOf(AuditKeyFileExposedError);
    }));

  it('a key file named by a kid that is not its thumbprint is refused', () =>
    withTemporaryDirectory(async (path) => {
      const directory = new AuditKeyDirectory(path);
      const [key] = await directory.loadOrGenerate(T0);
      const other = 'A'.repeat(43);
      await copyFile(join(path, `${key!.kid}.json`), join(path, `${other}.json`));
      await chmod(join(path, `${other}.json`), 0o600);
      await expect(directory.load()).rejects.toBeInstanceOf(AuditKeyFileInvalidError);
    }));

  it('a key file that is a symbolic link is refused', () =>
    withTemporaryDirectory(async (root) => {
      const directory = new AuditKeyDirectory(join(root, 'keys'));
      const [key] = await directory.loadOrGenerate(T0);
      const real = join(root, 'elsewhere.json');
      await copyFile(join(directory.path, `${key!.kid}.json`), real);
      await chmod(real, 0o600);
      await rm(join(directory.path, `${key!.kid}.json`));
      await symlink(real, join(directory.path, `${key!.kid}.json`));
      await expect(directory.load()).rejects.toThrow(/symbolic link/);
    }));

  it('a file that holds no Ed25519 key is refused', () =>
    withTemporaryDirectory(async (path) => {
      const kid = 'B'.repeat(43);
      await writeFile(join(path, `${kid}.json`), JSON.stringify({ kid, createdAt: T0.toISOString(), privateKeyPem: 'not a key' }), { mode: 0o600 });
      await expect(new AuditKeyDirectory(path).load()).rejects.toThrow('does not hold a usable Ed25519 private key');
    }));

  it('an absent directory holds no keys', async () => {
    expect(await new AuditKeyDirectory(join(tmpdir(), 'bastion-audit-keys-absent', String(process.pid))).load()).toEqual([]);
  });
});
