import { spawn } from 'node:child_process';
import { GitCommandError } from './git-errors';

export interface GitRunOptions {
  /** Runs `git -C <cwd>`; for a bare repository, its path. */
  cwd?: string;
  /** Added to the clean environment (never the parent's). */
  env?: Record<string, string>;
  input?: string | Buffer;
  timeoutMs?: number;
  maxOutputBytes?: number;
}

export interface GitRunResult {
  exitCode: number | null;
  stdout: Buffer;
  stderr: string;
}

/**
 * The environment every git process of Bastion starts with: PATH and nothing of the parent's (no GIT_DIR,
 * GIT_CONFIG_PARAMETERS or HOME a caller could have set), no system or user configuration (so a host's
 * `commit.gpgSign` or `core.hooksPath` cannot change what we build), no prompts, C messages.
 */
export function cleanGitEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_ATTR_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    LC_ALL: 'C',
    ...extra,
  };
}

/** Runs git and returns whatever it exited with; `git()` below is the variant that insists on success. */
export function runGit(args: readonly string[], options: GitRunOptions = {}): Promise<GitRunResult> {
  const { cwd, env = {}, input, timeoutMs = 60_000, maxOutputBytes = 16 * 1024 * 1024 } = options;
  const fullArgs = cwd === undefined ? [...args] : ['-C', cwd, ...args];
  return new Promise((resolve, reject) => {
    const child = spawn('git', fullArgs, { env: cleanGitEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let outBytes = 0;
    let err = '';
    let overflow = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => {
      outBytes += chunk.length;
      if (outBytes > maxOutputBytes) {
        overflow = true;
        child.kill('SIGKILL');
        return;
      }
      out.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (err.length < 64 * 1024) err += chunk.toString('utf8');
    });
    child.stdin.on('error', () => undefined); // git may exit before reading all of its input
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (overflow) err += `\n(output over ${maxOutputBytes} bytes)`;
      resolve({ exitCode: overflow ? null : code, stdout: Buffer.concat(out), stderr: err });
    });
    child.stdin.end(input);
  });
}

/** Runs git and returns its stdout as text without the final newline; throws GitCommandError on failure. */
export async function git(args: readonly string[], options: GitRunOptions = {}): Promise<string> {
  const result = await runGit(args, options);
  if (result.exitCode !== 0) throw new GitCommandError(args, result.exitCode, result.stderr);
  return result.stdout.toString('utf8').replace(/\n$/, '');
}

/** The commit a ref points to, or null when it does not exist. */
export async function resolveRef(repoPath: string, ref: string): Promise<string | null> {
  const result = await runGit(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`], { cwd: repoPath });
  if (result.exitCode === 0) return result.stdout.toString('utf8').trim();
  if (result.exitCode === 1) return null;
  throw new GitCommandError(['rev-parse', ref], result.exitCode, result.stderr);
}
