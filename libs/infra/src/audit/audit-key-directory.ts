import { createPrivateKey, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { projectRoot } from '../config/project-root';
import { AuditKeyFileExposedError, AuditKeyFileInvalidError } from './audit-errors';
import { auditKeyFromPrivateKey, generateAuditKey, type AuditKey } from './audit-keys';

/** A `kid` is a base64url SHA-256 thumbprint; nothing else may become a file name. */
const KID = /^[A-Za-z0-9_-]{43}$/;

const instant = z.string().datetime({ offset: true });

const keyFileSchema = z
  .object({
    kid: z.string().regex(KID),
    createdAt: instant,
    retiredAt: instant.optional(),
    privateKeyPem: z.string(),
  })
  .strict();

type KeyFile = z.infer<typeof keyFileSchema>;

const FILE_MODE = 0o600;
const DIRECTORY_MODE = 0o700;

/**
 * Audit keys as files, for the sealer alone: `<kid>.json` each, mode 0600, in a directory of mode 0700 (default
 * `.data/audit-keys/`, which git ignores), owned by the account the sealer runs as, so the API's account cannot read
 * them. The API publishes the public halves ({@link auditKeysJwks}); it never needs this directory.
 *
 * Each file holds the PKCS #8 private key and its dates; the `kid` is derived from the key on load, so a file cannot
 * claim another key's `kid`. Writes go to a temporary file renamed over the old one, so a reader never sees half a key.
 */
export class AuditKeyDirectory {
  constructor(readonly path: string = join(projectRoot(), '.data', 'audit-keys')) {}

  /** Every key in the directory, oldest first; none if the directory does not exist. */
  async load(): Promise<AuditKey[]> {
    let names: string[];
    try {
      names = await readdir(this.path);
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return [];
      throw error;
    }
    const files = names.filter((name) => name.endsWith('.json') && !name.startsWith('.'));
    const keys = await Promise.all(files.map((name) => this.#read(name)));
    return keys
      .filter((key): key is AuditKey => key !== undefined)
      .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.kid.localeCompare(b.kid));
  }

  /** The directory's keys, or a first key generated into it when it holds none. */
  async loadOrGenerate(now: Date): Promise<AuditKey[]> {
    const keys = await this.load();
    if (keys.length > 0) return keys;
    await this.write(generateAuditKey(now));
    // Read back rather than return the new key alone: a sealer starting alongside may have written one too.
    return this.load();
  }

  /** Creates or replaces the file of `key` (to record its retirement, say). */
  async write(key: AuditKey): Promise<void> {
    if (!key.privateKey) throw new TypeError(`audit key ${key.kid} has no private half to store`);
    await this.#ensureDirectory();
    const file: KeyFile = {
      kid: key.kid,
      createdAt: key.createdAt.toISOString(),
      ...(key.retiredAt ? { retiredAt: key.retiredAt.toISOString() } : {}),
      privateKeyPem: key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    };
    const temporary = join(this.path, `.${key.kid}.${randomBytes(6).toString('hex')}.tmp`);
    const handle = await open(temporary, 'wx', FILE_MODE);
    try {
      // The creation mode passes through the umask; set it outright before a byte of the key is written.
      await handle.chmod(FILE_MODE);
      await handle.writeFile(`${JSON.stringify(file, null, 2)}\n`);
      await handle.sync();
    } catch (error) {
      await handle.close();
      await rm(temporary, { force: true });
      throw error;
    }
    await handle.close();
    await rename(temporary, this.#fileOf(key.kid));
  }

  #fileOf(kid: string): string {
    if (!KID.test(kid)) throw new TypeError('a kid is a base64url SHA-256 thumbprint');
    return join(this.path, `${kid}.json`);
  }

  async #ensureDirectory(): Promise<void> {
    const created = await mkdir(this.path, { recursive: true, mode: DIRECTORY_MODE });
    // Only a directory we created is ours to chmod; an existing one may be shared (the files are 0600 regardless).
    if (created !== undefined) await chmod(this.path, DIRECTORY_MODE);
  }

  async #read(name: string): Promise<AuditKey | undefined> {
    const path = join(this.path, name);
    let text: string;
    try {
      // O_NOFOLLOW: a symbolic link could point the sealer at a key file nobody reviewed.
      const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
      try {
        const stat = await handle.stat();
        if (!stat.isFile()) throw new AuditKeyFileInvalidError(`Audit key file ${path} is not a regular file.`);
        if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
          const mode = (stat.mode & 0o777).toString(8).padStart(4, '0');
          throw new AuditKeyFileExposedError(
            `Refusing to load audit key file ${path}: its mode is ${mode}, so other users on this machine can read or replace it; run \`chmod 600 ${path}\`.`,
          );
        }
        text = await handle.readFile('utf8');
      } finally {
        await handle.close();
      }
    } catch (error) {
      // Removed between listing and opening: it is no longer part of the set.
      if (errorCode(error) === 'ENOENT') return undefined;
      if (errorCode(error) === 'ELOOP') throw new AuditKeyFileInvalidError(`Audit key file ${path} is a symbolic link.`);
      throw error;
    }
    return parseKeyFile(path, name, text);
  }
}

function parseKeyFile(path: string, name: string, text: string): AuditKey {
  const invalid = (why: string) => new AuditKeyFileInvalidError(`Audit key file ${path} ${why}.`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw invalid('is not JSON');
  }
  const parsed = keyFileSchema.safeParse(json);
  if (!parsed.success) {
    throw invalid(`is not an audit key file (${parsed.error.issues.map((i) => `${i.path.join('.') || 'file'}: ${i.message}`).join('; ')})`);
  }
  const file = parsed.data;
  let key: AuditKey;
  try {
    key = auditKeyFromPrivateKey(createPrivateKey(file.privateKeyPem), {
      createdAt: new Date(file.createdAt),
      ...(file.retiredAt ? { retiredAt: new Date(file.retiredAt) } : {}),
    });
  } catch {
    throw invalid('does not hold an Ed25519 private key');
  }
  if (key.kid !== file.kid || name !== `${key.kid}.json`) throw invalid('is not named by the thumbprint of its key');
  return key;
}

function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}
