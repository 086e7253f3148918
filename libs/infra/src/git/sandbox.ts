import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, lchown, lstat, mkdir, mkdtemp, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { validateCommand } from './ci-config';
import { git, runGit } from './git-command';
import { GitInvalidArgumentError, SandboxUnavailableError } from './git-errors';
import { assertObjectId } from './git-names';

/**
 * Test runs execute code an agent wrote (DESIGN §7). Each runs in a fresh `git clone --no-local` of the bare
 * repository (never a worktree of it, whose refs the code could move), checked out at the approved head, inside
 * bubblewrap:
 *
 *  - every namespace unshared: no network (its own loopback only — the host's 127.0.0.1 services are unreachable),
 *    its own PIDs, IPC and hostname; no capabilities; no further user namespaces;
 *  - only read-only system directories (/usr and the /bin, /lib… links to it, /etc/alternatives, the loader cache),
 *    a synthetic /etc/passwd, the clone read-write at /work, a bounded tmpfs /tmp, fresh /proc and /dev — no /run,
 *    /var/run or /var, so no host Unix socket (PostgreSQL trusts its local socket), no home, no repositories;
 *  - an empty environment but PATH, HOME=/tmp and CI=true;
 *  - uid 65534 inside; when the worker runs as root, bubblewrap itself is started as uid/gid 65534 too (the clone
 *    is handed over to that uid), so the sandboxed code is not host root even to the kernel;
 *  - CPU seconds, data-segment memory, processes, file size and core dumps limited with prlimit; wall time and
 *    output bounded here.
 *
 * Memory is RLIMIT_DATA, not RLIMIT_AS: V8 reserves ~10 GiB of address space for every WebAssembly memory (Node's
 * own fetch compiles llhttp to Wasm), so an address-space cap fails Node programs for the wrong reason, while the
 * data limit counts what is actually made writable.
 *
 * If bubblewrap is missing or cannot build the sandbox, the run is refused with SandboxUnavailableError. There is
 * no unsandboxed fallback, on purpose.
 */

export interface SandboxOptions {
  /** The argv from `.bastion/ci.json` (see readCiConfig). */
  command: readonly string[];
  timeoutMs: number;
  memoryBytes: number;
  outputLimitBytes: number;
  /** CPU seconds; defaults to the wall time. */
  cpuSeconds?: number;
  maxProcesses?: number;
  /** Largest file the run may write. */
  maxFileBytes?: number;
  /** Size of the in-memory /tmp. */
  tmpBytes?: number;
  /** Where the run's temporary directory (the clone) is made; the OS temporary directory by default. */
  tempRoot?: string;
}

export interface SandboxResult {
  passed: boolean;
  /** The command's exit code; 128+n when a signal ended it; null when the wall clock did. */
  exitCode: number | null;
  /** stdout and stderr interleaved, cut at outputLimitBytes. */
  output: string;
  outputTruncated: boolean;
  durationMs: number;
  timedOut: boolean;
}

const SANDBOX_UID = 65534;
const SANDBOX_PATH = '/usr/local/bin:/usr/bin:/bin';

export async function runTestsSandboxed(
  repoPath: string,
  headSha: string,
  options: SandboxOptions,
): Promise<SandboxResult> {
  assertObjectId('headSha', headSha);
  const command = validateCommand(options.command);
  for (const key of ['timeoutMs', 'memoryBytes', 'outputLimitBytes'] as const) {
    if (!Number.isSafeInteger(options[key]) || options[key] <= 0) {
      throw new GitInvalidArgumentError(key, 'must be a positive integer');
    }
  }
  const bwrap = await findExecutable('bwrap');
  const prlimit = await findExecutable('prlimit');
  if (!bwrap) throw new SandboxUnavailableError('bubblewrap is not installed', 'bwrap not found in PATH');
  if (!prlimit) throw new SandboxUnavailableError('prlimit is not installed', 'prlimit not found in PATH');

  const asRoot = process.geteuid?.() === 0;
  const dir = await mkdtemp(join(options.tempRoot ?? tmpdir(), 'bastion-test-run-'));
  try {
    if (asRoot) await lchown(dir, SANDBOX_UID, SANDBOX_UID); // still 0700: reachable by the sandbox's uid alone
    const work = join(dir, 'work');
    await cloneAt(repoPath, headSha, work, asRoot);
    await mkdir(join(dir, 'etc'));
    await writeFile(join(dir, 'etc', 'passwd'), `nobody:x:${SANDBOX_UID}:${SANDBOX_UID}:nobody:/tmp:/usr/sbin/nologin\n`);
    await writeFile(join(dir, 'etc', 'group'), `nogroup:x:${SANDBOX_UID}:\n`);

    const limits = [
      `--cpu=${options.cpuSeconds ?? Math.max(1, Math.ceil(options.timeoutMs / 1000))}`,
      `--data=${options.memoryBytes}`,
      `--nproc=${options.maxProcesses ?? 256}`,
      `--fsize=${options.maxFileBytes ?? 1024 * 1024 * 1024}`,
      '--core=0',
    ];
    const args = [...limits, '--', bwrap, ...(await bwrapArgs(dir, options.tmpBytes ?? 256 * 1024 * 1024)), '--', ...command];
    return await supervise(prlimit, args, options, asRoot);
  } finally {
    // Only ever deleted from here: running git in the clone after the run would obey whatever config and hooks the
    // tested code wrote into it.
    await rm(dir, { recursive: true, force: true });
  }
}

async function cloneAt(repoPath: string, headSha: string, work: string, asRoot: boolean): Promise<void> {
  await git(['clone', '--quiet', '--no-local', '--no-checkout', '--no-tags', repoPath, work]);
  if ((await runGit(['cat-file', '-e', `${headSha}^{commit}`], { cwd: work })).exitCode !== 0) {
    await git(['fetch', '--quiet', '--no-tags', 'origin', headSha], { cwd: work }); // a head no branch points to now
  }
  await git(['remote', 'remove', 'origin'], { cwd: work }); // the server's path has no business in the copy
  if (asRoot) {
    // The checkout writes files chosen by the code under test: do it as the sandbox's uid, not as root.
    await chownTree(work, SANDBOX_UID);
    await checkoutAs(work, headSha, SANDBOX_UID);
  } else {
    await git(['-c', 'advice.detachedHead=false', 'checkout', '--quiet', '--detach', headSha], { cwd: work });
  }
}

function checkoutAs(work: string, headSha: string, uid: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', ['-C', work, '-c', 'advice.detachedHead=false', 'checkout', '--quiet', '--detach', headSha], {
      uid,
      gid: uid,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', HOME: '/nonexistent' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`checkout failed: ${stderr.slice(0, 2000)}`))));
  });
}

async function bwrapArgs(dir: string, tmpBytes: number): Promise<string[]> {
  const args = [
    '--unshare-all',
    '--unshare-user',
    '--disable-userns',
    '--uid', String(SANDBOX_UID),
    '--gid', String(SANDBOX_UID),
    '--die-with-parent',
    '--new-session',
    '--cap-drop', 'ALL',
    '--hostname', 'sandbox',
    '--ro-bind', '/usr', '/usr',
  ];
  // Merged-/usr systems have these as links into /usr; older ones as directories.
  for (const top of ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32']) {
    const info = await lstat(top).catch(() => null);
    if (info?.isSymbolicLink()) args.push('--symlink', await readlink(top), top);
    else if (info?.isDirectory()) args.push('--ro-bind', top, top);
  }
  for (const file of ['/etc/alternatives', '/etc/ld.so.cache', '/etc/ld.so.conf', '/etc/ld.so.conf.d']) {
    if (await lstat(file).catch(() => null)) args.push('--ro-bind', file, file);
  }
  args.push(
    '--ro-bind', join(dir, 'etc', 'passwd'), '/etc/passwd',
    '--ro-bind', join(dir, 'etc', 'group'), '/etc/group',
    '--bind', join(dir, 'work'), '/work',
    '--chdir', '/work',
    '--proc', '/proc',
    '--dev', '/dev',
    '--size', String(tmpBytes), '--tmpfs', '/tmp',
    '--clearenv',
    '--setenv', 'PATH', SANDBOX_PATH,
    '--setenv', 'HOME', '/tmp',
    '--setenv', 'CI', 'true',
    '--json-status-fd', '3',
  );
  return args;
}

function supervise(prlimit: string, args: string[], options: SandboxOptions, asRoot: boolean): Promise<SandboxResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(prlimit, args, {
      env: { PATH: SANDBOX_PATH },
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
      detached: true, // its own process group, killed whole at the deadline
      ...(asRoot ? { uid: SANDBOX_UID, gid: SANDBOX_UID } : {}),
    });
    const chunks: Buffer[] = [];
    let kept = 0;
    let truncated = false;
    let status = '';
    let timedOut = false;
    const collect = (chunk: Buffer) => {
      const room = options.outputLimitBytes - kept;
      if (chunk.length > room) truncated = true;
      if (room > 0) {
        const part = chunk.subarray(0, room);
        chunks.push(part);
        kept += part.length;
      }
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    const statusPipe = child.stdio[3] as NodeJS.ReadableStream;
    statusPipe.on('data', (c: Buffer) => {
      if (status.length < 4096) status += c.toString('utf8');
    });
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, options.timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new SandboxUnavailableError('the sandbox could not be started', error.message));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const output = Buffer.concat(chunks).toString('utf8');
      // bubblewrap reports the sandboxed child's pid once every namespace and mount is in place; without it the
      // command never ran, and its exit code is bubblewrap's own failure.
      if (!timedOut && !status.includes('"child-pid"')) {
        reject(new SandboxUnavailableError('bubblewrap could not create the sandbox', output.slice(0, 4000)));
        return;
      }
      const exitCode = timedOut ? null : (code ?? (signal ? 128 : null));
      resolve({
        passed: !timedOut && exitCode === 0,
        exitCode,
        output,
        outputTruncated: truncated,
        durationMs: Date.now() - started,
        timedOut,
      });
    });
  });
}

async function chownTree(path: string, uid: number): Promise<void> {
  await lchown(path, uid, uid); // lchown: a symbolic link in the checkout is never followed
  const info = await lstat(path);
  if (!info.isDirectory()) return;
  for (const name of await readdir(path)) await chownTree(join(path, name), uid);
}

async function findExecutable(name: string): Promise<string | null> {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(delimiter)) {
    if (!dir.startsWith('/')) continue;
    const candidate = join(dir, name);
    if (await access(candidate, constants.X_OK).then(() => true, () => false)) return candidate;
  }
  return null;
}
