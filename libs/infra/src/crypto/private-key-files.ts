import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';

/** A `kid` is a base64url SHA-256 thumbprint; nothing else may become a file name. */
const KID = /^[A-Za-z0-9_-]{43}$/;

export const kidSchema = z.string().regex(KID);
export const instantSchema = z.string().datetime({ offset: true });

const FILE_MODE = 0o600;
const DIRECTORY_MODE = 0o700;

/** A private key as one directory stores it: the key's own fields, and how to write and read them. */
export interface KeyFileFormat<K extends { readonly kid: string; readonly createdAt: Date }, F extends { readonly kid: string }> {
  /** "Signing key", "Audit key": how messages name the files. */
  readonly label: string;
  /** "RS256", "Ed25519": what the private key must be. */
  readonly keyKind: string;
  readonly schema: z.ZodType<F>;
  /** Thrown for a file that cannot be a key of this kind (a link, bad JSON, wrong schema, wrong name). */
  readonly invalid: (message: string) => Error;
  /** Thrown for a key file others on the machine could read or replace. */
  readonly exposed: (message: string) => Error;
  toFile(key: K): F;
  /** The key from its file; throws a TypeError saying why the private key is unusable. */
  fromFile(file: F): K | Promise<K>;
}

/**
 * Private keys as files: `<kid>.json` each, mode 0600, in a directory of mode 0700. The `kid` is derived from the
 * private key on load, so a file cannot claim another key's `kid`; links and files others can read are refused.
 * Writes go to a temporary file renamed over the old one, so a reader never sees half a key.
 */
export class PrivateKeyFiles<K extends { readonly kid: string; readonly createdAt: Date }, F extends { readonly kid: string }> {
  constructor(
    readonly path: string,
    private readonly format: KeyFileFormat<K, F>,
  ) {}

  /** Every key in the directory, oldest first; none if the directory does not exist. */
  async load(): Promise<K[]> {
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
      .filter((key): key is Awaited<K> => key !== undefined)
      .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.kid.localeCompare(b.kid));
  }

  /** Creates or replaces the file of `key`. */
  async write(key: K): Promise<void> {
    const file = this.format.toFile(key);
    await this.#ensureDirectory();
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

  async remove(kid: string): Promise<void> {
    await rm(this.#fileOf(kid), { force: true });
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

  async #read(name: string): Promise<K | undefined> {
    const { label, invalid, exposed } = this.format;
    const path = join(this.path, name);
    let text: string;
    try {
      // O_NOFOLLOW: a symbolic link could point the process at a key file nobody reviewed.
      const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
      try {
        const stat = await handle.stat();
        if (!stat.isFile()) throw invalid(`${label} file ${path} is not a regular file.`);
        if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
          const mode = (stat.mode & 0o777).toString(8).padStart(4, '0');
          throw exposed(
            `Refusing to load ${label.toLowerCase()} file ${path}: its mode is ${mode}, so other users on this machine can read or replace it; run \`chmod 600 ${path}\`.`,
          );
        }
        text = await handle.readFile('utf8');
      } finally {
        await handle.close();
      }
    } catch (error) {
      // Removed (by a concurrent rotation, say) between listing and opening: it is no longer part of the set.
      if (errorCode(error) === 'ENOENT') return undefined;
      if (errorCode(error) === 'ELOOP') throw invalid(`${label} file ${path} is a symbolic link.`);
      throw error;
    }
    return this.#parse(path, name, text);
  }

  async #parse(path: string, name: string, text: string): Promise<K> {
    const { label, schema } = this.format;
    const invalid = (why: string) => this.format.invalid(`${label} file ${path} ${why}.`);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw invalid('is not JSON');
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `${i.path.join('.') || 'file'}: ${i.message}`).join('; ');
      throw invalid(`is not ${/^[aeiou]/i.test(label) ? 'an' : 'a'} ${label.toLowerCase()} file (${issues})`);
    }
    let key: K;
    try {
      key = await this.format.fromFile(parsed.data);
    } catch (error) {
      throw invalid(`does not hold a usable ${this.format.keyKind} private key (${error instanceof TypeError ? error.message : 'unreadable PEM'})`);
    }
    if (key.kid !== parsed.data.kid || name !== `${key.kid}.json`) throw invalid('is not named by the thumbprint of its key');
    return key;
  }
}

function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}
