import { git, runGit } from './git-command';
import { CiConfigInvalidError, GitCommandError } from './git-errors';
import { assertObjectId } from './git-names';

/** `.bastion/ci.json`: `{ "command": ["sh", "-c", "npm test"] }` — an argv, run without a shell of ours. */
export interface CiConfig {
  command: string[];
}

export const CI_CONFIG_PATH = '.bastion/ci.json';
const MAX_CONFIG_BYTES = 64 * 1024;
const MAX_ARGS = 64;
const MAX_ARG_CHARS = 16 * 1024;

/** Validates a test command (from ci.json or a caller): 1-64 non-empty strings without NUL. */
export function validateCommand(command: unknown): string[] {
  if (!Array.isArray(command) || command.length === 0 || command.length > MAX_ARGS) {
    throw new CiConfigInvalidError(`"command" must be an array of 1 to ${MAX_ARGS} strings`);
  }
  for (const [i, arg] of command.entries()) {
    if (typeof arg !== 'string' || (i === 0 && arg.trim() === '') || arg.length > MAX_ARG_CHARS || arg.includes('\0')) {
      throw new CiConfigInvalidError(`"command"[${i}] must be a string of at most ${MAX_ARG_CHARS} characters without NUL`);
    }
  }
  return [...(command as string[])];
}

export function parseCiConfig(text: string): CiConfig {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new CiConfigInvalidError(`${CI_CONFIG_PATH} is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CiConfigInvalidError(`${CI_CONFIG_PATH} must be a JSON object`);
  }
  const unknownKeys = Object.keys(value).filter((key) => key !== 'command');
  if (unknownKeys.length) throw new CiConfigInvalidError(`${CI_CONFIG_PATH} has unknown keys: ${unknownKeys.join(', ')}`);
  return { command: validateCommand((value as { command?: unknown }).command) };
}

/**
 * Reads `.bastion/ci.json` at `headSha` from the bare repository's object store — not from a checkout, where it
 * could be a symbolic link to a file of the server's.
 */
export async function readCiConfig(repoPath: string, headSha: string): Promise<CiConfig> {
  assertObjectId('headSha', headSha);
  const listed = await runGit(['ls-tree', '-z', headSha, '--', CI_CONFIG_PATH], { cwd: repoPath });
  if (listed.exitCode !== 0) throw new GitCommandError(['ls-tree'], listed.exitCode, listed.stderr);
  const entry = /^(100644|100755) blob ([0-9a-f]{40})\t/.exec(listed.stdout.toString('utf8'));
  if (!entry) throw new CiConfigInvalidError(`${CI_CONFIG_PATH} is missing or not a regular file at ${headSha}`);
  const blob = entry[2]!;
  if (Number(await git(['cat-file', '-s', blob], { cwd: repoPath })) > MAX_CONFIG_BYTES) {
    throw new CiConfigInvalidError(`${CI_CONFIG_PATH} is larger than ${MAX_CONFIG_BYTES} bytes`);
  }
  return parseCiConfig(await git(['cat-file', 'blob', blob], { cwd: repoPath, maxOutputBytes: MAX_CONFIG_BYTES }));
}
