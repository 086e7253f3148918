import type { PoolClient } from 'pg';
import { generateDataKey } from '../envelope';
import { DEFAULT_PLATFORM_KEY_REF, KmsRouter } from '../org-keys';
import { PersonKeyCache } from './person-key-cache';
import { PersonKeyRepository, type WrappedPersonKey } from './person-key.repository';
import { accountSubject, emailLookup, newEmailSubject } from './person-subject';
import type { PersonKey } from './seal-personal';

/** Runs `work` in one short transaction; the service never calls the KMS while one is open (DESIGN §3). */
export type Transact = <T>(work: (tx: PoolClient) => Promise<T>) => Promise<T>;

/** Person keys are never rotated: a new key for a subject only ever follows an erasure. */
const PERSON_KEY_VERSION = 1;

/** The AAD of a person key's wrapping: a wrapped key copied to another subject's row does not unwrap. Pinned. */
export function personKeyWrappingAad(subject: string): Buffer {
  return Buffer.from(`bastion/person-key/v1\0${subject}`, 'utf8');
}

export interface PersonKeyServiceOptions {
  readonly kms: KmsRouter;
  /** The key that wraps every person key: the platform key (`local://platform` by default). */
  readonly keyRef?: string;
  /** From {@link personEmailLookupKey}. */
  readonly emailLookupKey: Buffer;
  readonly cache?: PersonKeyCache;
  /** Returns a UUID (v7 in production); names new email subjects. */
  readonly newId: () => string;
}

/**
 * Per-person keys (crypto-shredding of personal data in events). Sealing asks {@link keyFor} / {@link keyForEmail}
 * — the person's key, created on first need, usually straight from memory; showing asks {@link keysOf}, which
 * always reads the rows first, so an erased person shows as erased at once in every process.
 */
export class PersonKeyService {
  readonly cache: PersonKeyCache;
  readonly keyRef: string;
  readonly #kms: KmsRouter;
  readonly #lookupKey: Buffer;
  readonly #newId: () => string;
  readonly #pending = new Map<string, { readonly epoch: number; readonly loading: Promise<PersonKey> }>();

  constructor(options: PersonKeyServiceOptions) {
    this.#kms = options.kms;
    this.keyRef = options.keyRef ?? DEFAULT_PLATFORM_KEY_REF;
    this.#kms.assertWrappingKeyRef(this.keyRef);
    this.#lookupKey = options.emailLookupKey;
    this.#newId = options.newId;
    this.cache = options.cache ?? new PersonKeyCache();
  }

  /** The cached key of a subject, without any I/O (undefined when it is not in memory). */
  peek(subject: string): PersonKey | undefined {
    return this.cache.get(subject);
  }

  /** The key of an account (user or agent), created on first need. Concurrent callers share one load. */
  keyFor(transact: Transact, id: string): Promise<PersonKey> {
    const subject = accountSubject(id);
    const cached = this.cache.get(subject);
    if (cached !== undefined) return Promise.resolve(cached);
    return this.#once(subject, async (epoch) => {
      const [existing] = await transact((tx) => new PersonKeyRepository(tx).read([subject]));
      return existing ? this.#unwrap(existing, epoch) : this.#create(transact, subject, null, epoch);
    });
  }

  /** The key of an email that may name no account (an invitee, a failed sign-in), created on first need. */
  keyForEmail(transact: Transact, normalizedEmail: string): Promise<PersonKey> {
    const lookup = emailLookup(this.#lookupKey, normalizedEmail);
    return this.#once(`email:${lookup.toString('hex')}`, async (epoch) => {
      const existing = await transact((tx) => new PersonKeyRepository(tx).readByEmail(lookup));
      return existing ? this.#unwrap(existing, epoch) : this.#create(transact, newEmailSubject(this.#newId), lookup, epoch);
    });
  }

  /** The email lookup hash the operator's erasure needs (never stored anywhere but the key table). */
  emailLookupOf(normalizedEmail: string): Buffer {
    return emailLookup(this.#lookupKey, normalizedEmail);
  }

  /**
   * The keys that exist now for these subjects, read from the database in one transaction (then unwrapped,
   * mostly from memory). A subject missing from the result has no key: its data is erased.
   */
  async keysOf(transact: Transact, subjects: Iterable<string>): Promise<Map<string, PersonKey>> {
    const unique = [...new Set(subjects)];
    const keys = new Map<string, PersonKey>();
    if (unique.length === 0) return keys;
    const epoch = this.cache.epoch;
    const rows = await transact((tx) => new PersonKeyRepository(tx).read(unique));
    for (const row of rows) keys.set(row.subject, await this.#unwrap(row, epoch));
    return keys;
  }

  /** `epoch`: the cache's, read before `row` was: an eviction since then keeps the key out of the cache. */
  async #unwrap(row: WrappedPersonKey, epoch: number): Promise<PersonKey> {
    const cached = this.cache.get(row.subject, row.wrapped);
    if (cached !== undefined) return cached;
    const bytes = await this.#kms.unwrap(row.keyRef, row.wrapped, personKeyWrappingAad(row.subject));
    const key: PersonKey = { subject: row.subject, dataKey: { version: PERSON_KEY_VERSION, key: bytes } };
    this.cache.set(key, row.wrapped, epoch);
    return key;
  }

  async #create(transact: Transact, subject: string, lookup: Buffer | null, epoch: number): Promise<PersonKey> {
    await this.#kms.ensureLocalKey(this.keyRef);
    const dataKey = generateDataKey(PERSON_KEY_VERSION);
    const wrapped = await this.#kms.wrap(this.keyRef, dataKey.key, personKeyWrappingAad(subject));
    const stored = await transact((tx) => new PersonKeyRepository(tx).store({ subject, emailLookup: lookup, keyRef: this.keyRef, wrapped }));
    // Someone else's first use won the race: theirs is the key.
    if (stored.subject !== subject || !stored.wrapped.equals(wrapped)) return this.#unwrap(stored, epoch);
    const key: PersonKey = { subject, dataKey };
    this.cache.set(key, wrapped, epoch);
    return key;
  }

  /**
   * One load per name at a time. A caller that comes after an eviction does not join a load that started before
   * it: that load may have read a key that has been erased since.
   */
  #once(name: string, load: (epoch: number) => Promise<PersonKey>): Promise<PersonKey> {
    const epoch = this.cache.epoch;
    const pending = this.#pending.get(name);
    if (pending !== undefined && pending.epoch === epoch) return pending.loading;
    const loading = load(epoch).finally(() => {
      if (this.#pending.get(name)?.loading === loading) this.#pending.delete(name);
    });
    this.#pending.set(name, { epoch, loading });
    return loading;
  }
}
