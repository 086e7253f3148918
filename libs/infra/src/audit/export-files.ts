import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, type ReadStream } from 'node:fs';
import { chmod, lstat, mkdir, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { AuditExportFileFormat } from './export-stream';

/**
 * Export files of the `audit-exports` job: `<dir>/<org id>/<export id>.<format>`, readable by their owner only
 * (0600, directories 0700). A file is written under a temporary name and renamed when complete, so a file under its
 * final name is always a whole export. Both ids are UUIDs checked here, so no request can name a path outside `dir`,
 * and the organisation is part of the path: an export id of another organisation names no file.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function auditExportFilePath(dir: string, orgId: string, exportId: string, format: AuditExportFileFormat): string {
  if (!UUID.test(orgId) || !UUID.test(exportId)) throw new Error('an export file is named by a lower-case organisation and export UUID');
  if (format !== 'jsonl' && format !== 'csv') throw new Error('an export file is jsonl or csv');
  return join(dir, orgId, `${exportId}.${format}`);
}

/** Writes the chunks to `path` (temporary name, fsync, rename); returns the bytes written. */
export async function writeAuditExportFile(path: string, chunks: AsyncIterable<string>): Promise<{ bytes: number }> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${randomUUID()}.partial`;
  // 'wx': a new file, never one an attacker placed there; `flush`: fsync before close, so the rename publishes data.
  const out = createWriteStream(temporary, { flags: 'wx', mode: 0o600, flush: true, highWaterMark: 1 << 20 });
  try {
    await pipeline(Readable.from(chunks, { objectMode: false }), out);
    await chmod(temporary, 0o600); // in case the umask was unusual
    await rename(temporary, path);
    return { bytes: out.bytesWritten };
  } catch (error) {
    out.destroy();
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
}

/** The complete export file at `path`, or undefined; a symbolic link or anything but a regular file is not one. */
export async function openAuditExportFile(path: string): Promise<{ stream: ReadStream; size: number } | undefined> {
  const stat = await lstat(path).catch(() => undefined);
  if (!stat?.isFile()) return undefined;
  return { stream: createReadStream(path), size: stat.size };
}
