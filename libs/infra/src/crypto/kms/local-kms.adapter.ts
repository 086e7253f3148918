import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isValidLocalKeyName, localKeyRef, parseLocalKeyRef } from './kms-key-ref';
import {
  assertAad,
  assertWrapInputs,
  DEK_BYTES,
  KeyDescription,
  KeyRevokedError,
  KeyState,
  KeyUnavailableError,
  Kms,
  KmsIntegrityError,
} from './kms.port';

/**
 * A KMS for development and tests: AES-256-GCM master keys in one JSON file (`keyring.json`, 0600, in a 0700
 * directory such as `.data/kms/`), outside the database so a database dump alone decrypts nothing. It is not a
 * security boundary: anyone who can read the file can unwrap every DEK. Production uses Google Cloud KMS.
 *
 * The file is read on every operation, so `bastion` admin commands run in another process (disable, destroy)
 * take effect at once everywhere. Writes replace the file atomically (write + rename); two processes changing
 * the keyring at the same instant can lose one change, which a development keyring tolerates.
 */

const KEYRING_FILE = 'keyring.json';
const FORMAT = 'bastion-local-kms/1';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export interface LocalKmsOptions {
  /** Where `keyring.json` lives; created (0700) on first write. */
  readonly directory: string;
}

/** A failure `failNext` makes the next operation report, as a real KMS might. */
export type LocalKmsFault = 'unavailable' | 'revoked' | 'integrity';

/** The keyring file is readable by other users, or is not a file this adapter wrote. */
export class LocalKeyringError extends Error {
  override readonly name = 'LocalKeyringError';
  readonly code = 'KMS.LOCAL_KEYRING' as const;
}

/** An admin operation that makes no sense for the key's current state (enable a destroyed key, create a duplicate). */
export class LocalKeyAdminError extends Error {
  override readonly name = 'LocalKeyAdminError';
  readonly code = 'KMS.LOCAL_ADMIN_REFUSED' as const;
}

interface StoredKey {
  readonly state: KeyState;
  /** base64 of 32 bytes; absent once destroyed. */
  readonly material?: string;
}

interface Keyring {
  readonly format: typeof FORMAT;
  readonly keys: Record<string, StoredKey>;
}

export class LocalKms implements Kms {
  readonly #directory: string;
  readonly #file: string;
  readonly #faults: LocalKmsFault[] = [];
  // Serialises this process's read-modify-write admin operations.
  #adminQueue: Promise<unknown> = Promise.resolve();

  constructor(options: LocalKmsOptions) {
    this.#directory = options.directory;
    this.#file = join(options.directory, KEYRING_FILE);
  }

  async wrap(keyRef: string, dek: Buffer, aad: Buffer): Promise<Buffer> {
    assertWrapInputs(dek, aad);
    const material = await this.#usableKey(keyRef);
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', material, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad);
    const ciphertext = Buffer.concat([cipher.update(dek), cipher.final()]);
    return Buffer.concat([nonce, ciphertext, cipher.getAuthTag()]);
  }

  async unwrap(keyRef: string, wrapped: Buffer, aad: Buffer): Promise<Buffer> {
    assertAad(aad);
    const material = await this.#usableKey(keyRef);
    if (wrapped.length !== NONCE_BYTES + DEK_BYTES + TAG_BYTES) {
      throw new KmsIntegrityError(keyRef, 'wrapped key has the wrong length');
    }
    const nonce = wrapped.subarray(0, NONCE_BYTES);
    const tag = wrapped.subarray(wrapped.length - TAG_BYTES);
    const decipher = createDecipheriv('aes-256-gcm', material, nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(tag);
    try {
      return Buffer.concat([decipher.update(wrapped.subarray(NONCE_BYTES, wrapped.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw new KmsIntegrityError(keyRef, 'wrapped key does not verify (wrong AAD, wrong key, or altered bytes)');
    }
  }

  async describe(keyRef: string): Promise<KeyDescription> {
    const name = parseLocalKeyRef(keyRef);
    this.#takeFault(keyRef);
    const key = (await this.#read(keyRef)).keys[name];
    if (key === undefined) throw new KeyRevokedError(keyRef, 'not-found');
    return { keyRef, state: key.state, provider: 'local' };
  }

  /** Creates an enabled key and returns its reference (`local://<name>`). */
  async createKey(name: string): Promise<string> {
    if (!isValidLocalKeyName(name)) throw new LocalKeyAdminError(`Invalid local key name ${JSON.stringify(name)}.`);
    await this.#update((keys) => {
      if (keys[name] !== undefined) throw new LocalKeyAdminError(`Local key ${name} already exists.`);
      return { ...keys, [name]: { state: 'enabled', material: randomBytes(32).toString('base64') } };
    });
    return localKeyRef(name);
  }

  disable(name: string): Promise<void> {
    return this.#setState(name, 'disabled');
  }

  enable(name: string): Promise<void> {
    return this.#setState(name, 'enabled');
  }

  /** Erases the key material from the keyring for good: everything wrapped under it is lost (crypto-shredding). */
  destroy(name: string): Promise<void> {
    return this.#update((keys) => {
      if (keys[name] === undefined) throw new LocalKeyAdminError(`No local key ${name}.`);
      return { ...keys, [name]: { state: 'destroyed' } };
    });
  }

  /** Makes the next `times` operations (wrap, unwrap or describe) fail with `fault`. For tests and local drills. */
  failNext(fault: LocalKmsFault, times = 1): void {
    for (let i = 0; i < times; i++) this.#faults.push(fault);
  }

  #setState(name: string, state: 'enabled' | 'disabled'): Promise<void> {
    return this.#update((keys) => {
      const key = keys[name];
      if (key === undefined) throw new LocalKeyAdminError(`No local key ${name}.`);
      if (key.state === 'destroyed') throw new LocalKeyAdminError(`Local key ${name} is destroyed; it cannot be ${state}.`);
      return { ...keys, [name]: { ...key, state } };
    });
  }

  async #usableKey(keyRef: string): Promise<Buffer> {
    const name = parseLocalKeyRef(keyRef);
    this.#takeFault(keyRef);
    const key = (await this.#read(keyRef)).keys[name];
    if (key === undefined) throw new KeyRevokedError(keyRef, 'not-found');
    if (key.state !== 'enabled') throw new KeyRevokedError(keyRef, key.state);
    return Buffer.from(key.material ?? '', 'base64');
  }

  #takeFault(keyRef: string): void {
    const fault = this.#faults.shift();
    switch (fault) {
      case undefined:
        return;
      case 'unavailable':
        throw new KeyUnavailableError(keyRef, 'injected fault');
      case 'revoked':
        throw new KeyRevokedError(keyRef, 'disabled');
      case 'integrity':
        throw new KmsIntegrityError(keyRef, 'injected fault');
      default: {
        const _exhaustive: never = fault;
        return _exhaustive;
      }
    }
  }

  #update(change: (keys: Record<string, StoredKey>) => Record<string, StoredKey>): Promise<void> {
    const next = this.#adminQueue.then(async () => {
      const keyring = await this.#read('(admin)');
      await this.#write({ format: FORMAT, keys: change(keyring.keys) });
    });
    this.#adminQueue = next.catch(() => undefined);
    return next;
  }

  async #read(keyRef: string): Promise<Keyring> {
    let text: string;
    try {
      const info = await stat(this.#file);
      // Same rule as the server secret file: a master key other users can read is not a secret.
      if ((info.mode & 0o077) !== 0) {
        throw new LocalKeyringError(`${this.#file} is readable by other users; run chmod 600 on it.`);
      }
      text = await readFile(this.#file, 'utf8');
    } catch (error) {
      if (error instanceof LocalKeyringError) throw error;
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { format: FORMAT, keys: {} };
      throw new KeyUnavailableError(keyRef, 'the local keyring could not be read', { cause: error });
    }
    return parseKeyring(text, this.#file);
  }

  async #write(keyring: Keyring): Promise<void> {
    await mkdir(this.#directory, { recursive: true, mode: 0o700 });
    const temporary = `${this.#file}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await writeFile(temporary, JSON.stringify(keyring, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
      // The mode given to writeFile is filtered by the umask; the file must end up 0600 whatever the umask.
      await chmod(temporary, 0o600);
      await rename(temporary, this.#file);
    } catch (error) {
      await unlink(temporary).catch(() => undefined);
      throw error;
    }
  }
}

function parseKeyring(text: string, file: string): Keyring {
  const invalid = (why: string): LocalKeyringError => new LocalKeyringError(`${file} is not a local KMS keyring: ${why}.`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw invalid('not JSON');
  }
  if (typeof value !== 'object' || value === null) throw invalid('not an object');
  const { format, keys } = value as { format?: unknown; keys?: unknown };
  if (format !== FORMAT) throw invalid(`format is not ${FORMAT}`);
  if (typeof keys !== 'object' || keys === null || Array.isArray(keys)) throw invalid('no keys object');
  const parsed: Record<string, StoredKey> = {};
  for (const [name, raw] of Object.entries(keys as Record<string, unknown>)) {
    if (!isValidLocalKeyName(name)) throw invalid(`invalid key name ${JSON.stringify(name)}`);
    const { state, material } = (raw ?? {}) as { state?: unknown; material?: unknown };
    if (state === 'destroyed') {
      // Material next to a destroyed key would mean destroy did not erase it: refuse rather than carry it on.
      if (material !== undefined) throw invalid(`key ${name} is destroyed but still has material`);
      parsed[name] = { state };
      continue;
    }
    if (state !== 'enabled' && state !== 'disabled') throw invalid(`key ${name} has an unknown state`);
    if (typeof material !== 'string' || Buffer.from(material, 'base64').length !== 32) {
      throw invalid(`key ${name} has no 32-byte material`);
    }
    parsed[name] = { state, material };
  }
  return { format: FORMAT, keys: parsed };
}
