import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseEml } from './parse-eml';

export interface OutboxMessage {
  /** Path of the `.eml` file. */
  readonly file: string;
  readonly to: string;
  readonly subject: string;
  readonly text: string;
  readonly html?: string;
}

/**
 * The newest message the file outbox holds for `to` (compared case-insensitively), or undefined when there is
 * none: how tests and developers follow a verification or reset link without a mail server.
 */
export async function readOutbox(dir: string, query: { to: string }): Promise<OutboxMessage | undefined> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const wanted = query.to.trim().toLowerCase();
  // File names start with the time written, so the newest sorts last.
  for (const name of names.filter((n) => n.endsWith('.eml')).sort().reverse()) {
    const file = join(dir, name);
    const { to, subject, text, html } = parseEml(await readFile(file));
    if (to.toLowerCase() === wanted) return { file, to, subject, text, ...(html === undefined ? {} : { html }) };
  }
  return undefined;
}
