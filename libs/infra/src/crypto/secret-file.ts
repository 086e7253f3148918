import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { StartupError } from '../runtime/startup-error';

/**
 * A development secret kept in a file: created once (0600, in a 0700 directory) with `create()`, and refused when
 * other users can read it. Production passes secrets through the environment instead.
 */
export function readOrCreateSecretFile(path: string, create: () => string): string {
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeFileSync(path, create() + '\n', { mode: 0o600, flag: 'wx' });
  }
  if ((statSync(path).mode & 0o077) !== 0) throw new StartupError(`${path} is readable by other users; run chmod 600 on it.`);
  chmodSync(path, 0o600);
  return readFileSync(path, 'utf8').trim();
}
