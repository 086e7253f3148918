import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';

let cached: string | undefined;

/** The repository root, from source (ts) or from dist/ (js) alike. */
export function projectRoot(): string {
  if (cached) return cached;
  let dir = __dirname;
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'bastion') {
      cached = dir;
      return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('Cannot find the Bastion project root above ' + __dirname);
    dir = parent;
  }
}

/** A configured path as given when absolute, else relative to the project root (never to the working directory). */
export function fromProjectRoot(path: string): string {
  return isAbsolute(path) ? path : join(projectRoot(), path);
}
