/**
 * The `reference-transaction` hook every Bastion repository runs: the second lock on `main` (DESIGN §7). git runs
 * it for every ref transaction, pushes and local `git update-ref` alike. In the `prepared` state it aborts the
 * transaction if it would change `refs/heads/main` (or `HEAD`, which names it) unless the process carries
 * `BASTION_MERGE_TOKEN` equal to the one-time token the merge worker wrote to `<repo>/bastion-merge-token`.
 *
 * Housekeeping must keep working, and on git 2.39 `git pack-refs` (and so `gc`) runs two transactions on main:
 *  - packing: `0000… → <current main>` into packed-refs. Allowed: its new value is main's current value (any update
 *    whose new value is main's current value is a no-op and passes);
 *  - pruning the loose ref: `<current> → 0000…`, which reads like a deletion. Refusing it makes pack-refs fail
 *    (exit 128), so it passes when main still resolves to the same value afterwards: packed-refs holds
 *    `<current> refs/heads/main` and packed-refs is not locked. A real deletion (`update-ref -d`, a push) always
 *    locks packed-refs for the whole transaction to delete the packed copy too, so it is still refused.
 */

export const MERGE_TOKEN_FILE = 'bastion-merge-token';

export function referenceTransactionScript(): string {
  return String.raw`'use strict';
// Installed by Bastion (libs/infra/src/git/hooks/reference-transaction.hook.ts). Do not edit: reinstall instead.
const { createHash, timingSafeEqual } = require('node:crypto');
const { existsSync, readFileSync } = require('node:fs');
const { join } = require('node:path');
const { spawnSync } = require('node:child_process');

const GUARDED = new Set(['refs/heads/main', 'HEAD']);
const ZERO = '0000000000000000000000000000000000000000';
const REPO = join(__dirname, '..');
const TOKEN_FILE = join(REPO, '${MERGE_TOKEN_FILE}');

// Anything but an explicit process.exit(0) below refuses, even an event loop that simply runs dry.
process.exitCode = 1;

function refuse(message) {
  process.stderr.write('bastion: ' + message + '\n');
  process.exit(1);
}
process.on('uncaughtException', () => refuse('refs/heads/main is locked (the check failed)'));

function digest(text) {
  return createHash('sha256').update(text, 'utf8').digest();
}

function carriesMergeToken() {
  const offered = process.env.BASTION_MERGE_TOKEN;
  if (!offered || offered.length < 32) return false;
  let expected;
  try { expected = readFileSync(TOKEN_FILE, 'utf8').trim(); } catch { return false; }
  if (expected.length < 32) return false;
  return timingSafeEqual(digest(offered), digest(expected));
}

function currentMain() {
  const r = spawnSync('git', ['rev-parse', '--verify', '--quiet', 'refs/heads/main'], { encoding: 'utf8', timeout: 10000 });
  if (r.status === 0) return r.stdout.trim();
  if (r.status === 1) return null;
  refuse('refs/heads/main is locked (could not read it)');
}

// What main resolves to once this update is done: a loose main removed while packed-refs is not being rewritten
// falls back to its packed value (the prune step of pack-refs).
function valueAfter(update) {
  if (update.newSha !== ZERO || update.ref !== 'refs/heads/main') return update.newSha;
  if (existsSync(join(REPO, 'packed-refs.lock'))) return ZERO;
  let packed = '';
  try { packed = readFileSync(join(REPO, 'packed-refs'), 'utf8'); } catch { return ZERO; }
  const m = /^([0-9a-f]{40}) refs\/heads\/main$/m.exec(packed);
  return m ? m[1] : ZERO;
}

if (process.argv[2] !== 'prepared') process.exit(0);
const chunks = [];
process.stdin.on('data', (c) => chunks.push(c));
process.stdin.on('end', () => {
  const guarded = [];
  for (const line of Buffer.concat(chunks).toString('utf8').split('\n')) {
    if (line === '') continue;
    const [oldSha, newSha, ref] = line.split(' ');
    if (GUARDED.has(ref)) guarded.push({ oldSha, newSha, ref });
  }
  if (guarded.length === 0) process.exit(0);
  if (carriesMergeToken()) process.exit(0);
  if (guarded.every((u) => u.oldSha === u.newSha && u.oldSha !== ZERO)) process.exit(0);
  const main = currentMain();
  if (main !== null && guarded.every((u) => valueAfter(u) === main)) process.exit(0);
  refuse('refs/heads/main moves only through an approved merge');
});
`;
}

/**
 * The executable git finds by name: a POSIX sh shim that runs the CommonJS file beside it with a fixed Node
 * binary (a `.cjs` name keeps it CommonJS whatever package.json sits above the repositories). A missing or broken
 * Node makes the shim fail, and a failing hook refuses: both hooks fail closed.
 */
export function hookShim(nodePath: string, scriptFile: string, options: { preparedOnly?: boolean } = {}): string {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const lines = ['#!/bin/sh', '# Installed by Bastion. Do not edit: reinstall instead.'];
  if (options.preparedOnly) {
    // Most transactions never touch main: skip starting Node for them (a superset test; Node decides exactly).
    lines.push(
      '[ "$1" = prepared ] || { cat >/dev/null; exit 0; }',
      'input=$(cat)',
      `case "$input" in *' refs/heads/main'*|*' HEAD'*) ;; *) exit 0 ;; esac`,
      `printf '%s\\n' "$input" | exec ${quote(nodePath)} "\${0%/*}/${scriptFile}" "$@"`,
    );
  } else {
    lines.push(`exec ${quote(nodePath)} "\${0%/*}/${scriptFile}" "$@"`);
  }
  return `${lines.join('\n')}\n`;
}
