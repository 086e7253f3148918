import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer, Server } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CiConfigInvalidError, SandboxUnavailableError } from './git-errors';
import { readCiConfig } from './ci-config';
import { SandboxOptions, runTestsSandboxed } from './sandbox';
import { close, listen, newRepository, refValue, setRef, withTempRoot, writeCommit } from './testing/git-test-kit';

/**
 * Real bubblewrap. Each attack below first shows that the same target is reachable from the host (so the test
 * proves the sandbox, not a missing service), then that the command fails inside.
 */
const LIMITS: Omit<SandboxOptions, 'command'> = { timeoutMs: 20_000, memoryBytes: 1024 ** 3, outputLimitBytes: 64 * 1024 };
// Asynchronous: the API stand-in answers from this same event loop.
const onHost = async (file: string, args: string[]) => (await promisify(execFile)(file, args, { encoding: 'utf8', timeout: 10_000 })).stdout;
const sh = (script: string) => ({ ...LIMITS, command: ['sh', '-c', script] });

describe('runTestsSandboxed', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  let repo: { path: string; mainCommit: string };
  let head: string;
  let api: Server;
  let apiUrl: string;

  beforeAll(async () => {
    ({ root, cleanup } = await withTempRoot());
    repo = await newRepository(root);
    head = await writeCommit(repo.path, {
      parents: [repo.mainCommit],
      files: {
        'README.md': '# demo\n',
        '.bastion/ci.json': JSON.stringify({ command: ['sh', '-c', 'test "$(cat src/answer.txt)" = 42 && echo ok'] }),
        'src/answer.txt': '42',
      },
    });
    await setRef(repo.path, 'refs/heads/agent/a/work', head);
    api = createServer((_req, res) => res.end('reached the API'));
    apiUrl = await listen(api);
  });
  afterAll(async () => {
    await close(api);
    await cleanup();
  });

  it('passes a test command that passes, run from .bastion/ci.json in a clone of the head', async () => {
    const { command } = await readCiConfig(repo.path, head);
    const result = await runTestsSandboxed(repo.path, head, { ...LIMITS, command });

    expect(result).toMatchObject({ passed: true, exitCode: 0, output: 'ok\n', timedOut: false, outputTruncated: false });
    expect(result.durationMs).toBeGreaterThan(0);
  });

  it('fails a test command that fails, with its exit code and output', async () => {
    const result = await runTestsSandboxed(repo.path, head, sh('echo "1 failing" >&2; exit 3'));
    expect(result).toMatchObject({ passed: false, exitCode: 3, output: '1 failing\n', timedOut: false });
  });

  it('runs a head no branch points to any more (fetched into the clone by id)', async () => {
    const orphan = await writeCommit(repo.path, { parents: [repo.mainCommit], files: { 'x.txt': 'x' } });
    const result = await runTestsSandboxed(repo.path, orphan, sh('cat x.txt'));
    expect(result).toMatchObject({ passed: true, output: 'x' });
  });

  it('runs as uid 65534 with an empty environment, in a clone with no way back to the server repository', async () => {
    const script = [
      'echo "uid=$(id -u) gid=$(id -g)"',
      'env | cut -d= -f1 | sort | tr "\\n" " "; echo',
      'echo "remotes=[$(git remote)] head=$(git rev-parse HEAD)"',
      'echo "root: $(ls / | tr "\\n" " ")"',
      `for p in /home /root /run /var /var/run /etc/shadow '${repo.path}'; do test -e "$p" && echo "visible: $p"; done`,
      'true',
    ].join('\n');
    const result = await runTestsSandboxed(repo.path, head, sh(script));

    expect(result.output.split('\n')).toEqual([
      'uid=65534 gid=65534',
      'CI HOME PATH PWD ',
      `remotes=[] head=${head}`,
      'root: bin dev etc lib lib64 proc sbin tmp usr work ',
      '',
    ]);
  });

  it('cannot move main of the server repository with `git update-ref`', async () => {
    const target = await writeCommit(repo.path, { parents: [head], files: { 'pwned.txt': 'x' } });
    const script =
      `git --git-dir='${repo.path}' update-ref refs/heads/main ${target} || exit 1; ` +
      `git -C /work update-ref refs/heads/main ${target} && echo 'moved only its own copy'`;
    const result = await runTestsSandboxed(repo.path, head, sh(script));

    expect(result.passed).toBe(false);
    expect(result.output).toMatch(/not a git repository/);
    expect(await refValue(repo.path, 'refs/heads/main')).toBe(repo.mainCommit);
  });

  it("cannot reach PostgreSQL through its Unix socket (psql -h /var/run/postgresql)", async () => {
    const socketDir = '/var/run/postgresql';
    const result = await runTestsSandboxed(repo.path, head, sh(`psql -h ${socketDir} -U postgres -c 'select 1'`));

    expect(result.passed).toBe(false);
    expect(result.output).toMatch(/could not connect|No such file or directory/);
    if (existsSync(`${socketDir}/.s.PGSQL.5432`)) {
      // The same command works outside: the host does trust that socket.
      expect(await onHost('psql', ['-h', socketDir, '-U', 'postgres', '-Atc', 'select 1'])).toBe('1\n');
    }
  });

  it('cannot reach Redis on 127.0.0.1 (redis-cli ping)', async () => {
    expect(await onHost('redis-cli', ['-h', '127.0.0.1', 'ping'])).toBe('PONG\n');
    const result = await runTestsSandboxed(repo.path, head, sh('redis-cli -h 127.0.0.1 ping'));

    expect(result.passed).toBe(false);
    expect(result.output).toMatch(/Connection refused/);
  });

  it('cannot reach the API on 127.0.0.1 (curl, node fetch)', async () => {
    expect(await onHost('curl', ['-sS', apiUrl])).toBe('reached the API');
    const curl = await runTestsSandboxed(repo.path, head, sh(`curl -sS --max-time 5 ${apiUrl}`));
    const node = await runTestsSandboxed(repo.path, head, {
      ...LIMITS,
      command: ['node', '-e', `fetch(${JSON.stringify(apiUrl)}).then(r => r.text()).then(console.log, e => { console.log(String(e.cause)); process.exit(7); })`],
    });

    expect(curl.passed).toBe(false);
    expect(curl.output).toMatch(/Failed to connect|Connection refused|Couldn't connect/);
    expect(node).toMatchObject({ passed: false, exitCode: 7 });
    expect(node.output).toContain('ECONNREFUSED');
  });

  it('kills a command that runs past its wall time and reports it as timed out', async () => {
    const result = await runTestsSandboxed(repo.path, head, { ...sh('echo started; sleep 30'), timeoutMs: 1500 });
    expect(result).toMatchObject({ passed: false, exitCode: null, timedOut: true, output: 'started\n' });
    expect(result.durationMs).toBeLessThan(10_000);
  });

  it('cuts the output at the limit and bounds memory', async () => {
    const noisy = await runTestsSandboxed(repo.path, head, { ...sh('yes | head -c 100000'), outputLimitBytes: 1000 });
    expect(noisy).toMatchObject({ passed: true, outputTruncated: true });
    expect(noisy.output).toHaveLength(1000);

    const hungry = await runTestsSandboxed(repo.path, head, {
      ...LIMITS,
      memoryBytes: 256 * 1024 ** 2,
      command: ['node', '-e', 'const a = []; for (;;) a.push(Buffer.alloc(64 << 20, 1));'],
    });
    expect(hungry.passed).toBe(false);
    expect(hungry.output).toMatch(/allocation failed|out of memory/i);
  });

  it('refuses the run with SandboxUnavailableError when bubblewrap cannot build the sandbox, and never runs it unsandboxed', async () => {
    // Reachable by the unprivileged uid the sandbox is started as.
    const fakeBin = await mkdtemp(join(tmpdir(), 'bastion-fake-bwrap-'));
    await chmod(fakeBin, 0o755);
    await writeFile(join(fakeBin, 'bwrap'), '#!/bin/sh\necho "bwrap: No permissions to creating new namespace" >&2\nexit 1\n');
    await chmod(join(fakeBin, 'bwrap'), 0o755);
    const marker = join(root, 'ran-unsandboxed');
    const path = process.env.PATH;
    process.env.PATH = `${fakeBin}:${path}`;
    try {
      const error = await runTestsSandboxed(repo.path, head, sh(`touch ${marker}`)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SandboxUnavailableError);
      expect((error as SandboxUnavailableError).detail).toContain('No permissions to creating new namespace');
      process.env.PATH = '/nonexistent';
      await expect(runTestsSandboxed(repo.path, head, sh(`touch ${marker}`))).rejects.toThrow(SandboxUnavailableError);
    } finally {
      process.env.PATH = path;
      await rm(fakeBin, { recursive: true, force: true });
    }
    expect(existsSync(marker)).toBe(false);
  });

  it('reads .bastion/ci.json from the object store and refuses a missing, symlinked or malformed one', async () => {
    expect(await readCiConfig(repo.path, head)).toEqual({ command: ['sh', '-c', 'test "$(cat src/answer.txt)" = 42 && echo ok'] });
    await expect(readCiConfig(repo.path, repo.mainCommit)).rejects.toThrow(CiConfigInvalidError);
    const bad = await writeCommit(repo.path, { parents: [], files: { '.bastion/ci.json': '{"command": "npm test"}' } });
    await expect(readCiConfig(repo.path, bad)).rejects.toThrow('"command" must be an array');
    const linked = await writeCommit(repo.path, { parents: [], files: {}, symlinks: { '.bastion/ci.json': '/etc/passwd' } });
    await expect(readCiConfig(repo.path, linked)).rejects.toThrow('missing or not a regular file');
  });
});
