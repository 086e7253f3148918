import { access, chmod, constants, mkdir, readFile, realpath, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { git } from '../git-command';
import { PRE_RECEIVE_DEFAULT_TIMEOUT_MS, preReceiveScript } from './pre-receive.hook';
import { hookShim, referenceTransactionScript } from './reference-transaction.hook';

export interface HookOptions {
  /** The Node binary the hooks run with; defaults to the one running this process. */
  nodePath?: string;
  /** How long pre-receive waits for the push policy endpoint before refusing the push. */
  policyTimeoutMs?: number;
}

interface InstallAt {
  /** The absolute path git will find the repository at, when it is being assembled somewhere else first. */
  servedAt?: string;
}

const FILES = {
  preReceive: { shim: 'pre-receive', script: 'bastion-pre-receive.cjs' },
  referenceTransaction: { shim: 'reference-transaction', script: 'bastion-reference-transaction.cjs' },
} as const;

/**
 * Writes both hooks into `<repo>/hooks` and points `core.hooksPath` at that directory by absolute path (so neither a
 * system `core.hooksPath` nor the directory git is started from can divert it). Idempotent: run it again after
 * moving a repository or upgrading Node, since both paths are baked in.
 */
export async function installHooks(repoPath: string, options: HookOptions & InstallAt = {}): Promise<void> {
  const nodePath = options.nodePath ?? process.execPath;
  const timeoutMs = options.policyTimeoutMs ?? PRE_RECEIVE_DEFAULT_TIMEOUT_MS;
  const hooksDir = join(repoPath, 'hooks');
  await mkdir(hooksDir, { recursive: true, mode: 0o755 });
  await writeHookFile(join(hooksDir, FILES.preReceive.script), preReceiveScript(timeoutMs), 0o644);
  await writeHookFile(join(hooksDir, FILES.referenceTransaction.script), referenceTransactionScript(), 0o644);
  await writeHookFile(join(hooksDir, FILES.preReceive.shim), hookShim(nodePath, FILES.preReceive.script), 0o755);
  await writeHookFile(
    join(hooksDir, FILES.referenceTransaction.shim),
    hookShim(nodePath, FILES.referenceTransaction.script, { preparedOnly: true }),
    0o755,
  );
  const servedAt = options.servedAt ?? (await realpath(repoPath));
  await git(['config', '--file', join(repoPath, 'config'), 'core.hooksPath', join(servedAt, 'hooks')]);
}

/**
 * True when the repository's hooks are Bastion's and git will find them: the HTTP layer checks this before a
 * receive-pack, since a repository whose hooks went missing would otherwise accept every push.
 */
export async function hooksInstalled(repoPath: string): Promise<boolean> {
  try {
    const hooksDir = join(await realpath(repoPath), 'hooks');
    const configured = await git(['config', '--file', join(repoPath, 'config'), '--get', 'core.hooksPath']);
    if (configured !== hooksDir) return false;
    for (const { shim, script } of Object.values(FILES)) {
      await access(join(hooksDir, shim), constants.X_OK);
      if (!(await readFile(join(hooksDir, script), 'utf8')).includes('Installed by Bastion')) return false;
    }
    return true;
  } catch {
    return false;
  }
}

async function writeHookFile(path: string, content: string, mode: number): Promise<void> {
  await writeFile(path, content, { mode });
  await chmod(path, mode); // writeFile keeps the mode of a file that already exists
}
