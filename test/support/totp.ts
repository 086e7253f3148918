import { execFileSync } from 'node:child_process';

/** A TOTP code from an independent implementation (Debian's oathtool), at `offsetSeconds` from now. */
export function oathtool(secret: string, offsetSeconds = 0): string {
  const at = new Date(Date.now() + offsetSeconds * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  return execFileSync('oathtool', ['--totp', '-b', '--now', at, secret], { encoding: 'utf8' }).trim();
}

/** Waits until the current 30-second step has at least `margin` seconds left, so a code stays in its step. */
export async function awayFromStepEdge(margin = 3): Promise<void> {
  const left = 30 - ((Date.now() / 1000) % 30);
  if (left < margin) await new Promise((r) => setTimeout(r, left * 1000 + 100));
}
