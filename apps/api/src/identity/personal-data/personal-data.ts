import { Inject, Injectable } from '@nestjs/common';
import type { PersonKey, PersonKeyService } from '@bastion/infra/crypto/person-keys';
import { IdentityRepository } from '@bastion/infra/identity/identity.repository';
import type { JsonLogger } from '@bastion/infra/runtime/logger';
import type { BastionRequest } from '../../auth/request-context';
import { SessionDatabase } from '../../auth/session-database';
import { LOGGER } from '../../tokens';
import { PERSON_KEYS } from './personal-data.tokens';

/** The person keys a request has loaded, then whatever this process still holds in memory. */
class RequestPersonKeys {
  readonly #loaded = new Map<string, PersonKey>();
  constructor(private readonly service: PersonKeyService) {}

  get(subject: string): PersonKey | undefined {
    return this.#loaded.get(subject) ?? this.service.peek(subject);
  }

  add(key: PersonKey): void {
    this.#loaded.set(key.subject, key);
  }
}

/**
 * Person keys for the API (crypto-shredding of personal data in events): a route loads the key of the person its
 * events describe *before* it builds them and before its transaction opens (a KMS call never holds a transaction
 * open); `commandContext` then seals the request's IP address and user agent with it, and the route seals its own
 * personal fields (an email, a display name) with {@link sealPersonal}.
 *
 * Any path may call {@link prepare} — the refresh-token path included: with the key in memory it costs no I/O.
 */
@Injectable()
export class PersonalData {
  constructor(
    @Inject(PERSON_KEYS) readonly keys: PersonKeyService,
    private readonly db: SessionDatabase,
    @Inject(LOGGER) private readonly logger: JsonLogger,
  ) {}

  readonly transact = <T>(work: Parameters<SessionDatabase['anonymous']>[0]): Promise<T> => this.db.anonymous(work) as Promise<T>;

  /** Attaches the request's key holder (idempotent); the global guard does it for every request. */
  attach(req: BastionRequest): RequestPersonKeys {
    if (!(req.personKeys instanceof RequestPersonKeys)) req.personKeys = new RequestPersonKeys(this.keys);
    return req.personKeys as RequestPersonKeys;
  }

  /**
   * True when this request can already seal for the account: its key was loaded here, or is still in this process's
   * memory, in which case it is pinned to the request (it stays usable should the cache drop it mid-request).
   */
  pin(req: BastionRequest, accountId: string): boolean {
    const holder = this.attach(req);
    const key = holder.get(accountId.toLowerCase());
    if (key !== undefined) holder.add(key);
    return key !== undefined;
  }

  /**
   * {@link prepare}, for a request whose events are worth more than their IP address and user agent: a key that
   * cannot be loaded (KMS down) is logged and costs the events those two values, never the request.
   */
  async prepareOrWarn(req: BastionRequest, accountId: string): Promise<void> {
    try {
      await this.prepare(req, accountId);
    } catch (error) {
      this.logger.event('warn', 'personal data: could not load the person key; IP and user agent left out of events', { error });
    }
  }

  /** Loads (creating on first need) the key of an account — a user or an agent — for this request. */
  async prepare(req: BastionRequest, accountId: string): Promise<PersonKey> {
    const holder = this.attach(req);
    const key = await this.keys.keyFor(this.transact, accountId);
    holder.add(key);
    return key;
  }

  /**
   * Loads the key of the user a single-use email token belongs to, and returns that user (null for a token that is
   * not live: the definer function will refuse it and append nothing).
   */
  async prepareTokenOwner(req: BastionRequest, tokenHash: Buffer, purpose: 'verify_email' | 'reset_password'): Promise<string | null> {
    const owner = await this.db.anonymous((tx) => new IdentityRepository(tx).emailTokenOwner(tokenHash, purpose));
    if (owner !== null) await this.prepare(req, owner);
    return owner === null ? null : owner.toLowerCase();
  }

  /** Loads (creating on first need) the key of an email that may have no account; its subject names it in events. */
  async prepareEmail(req: BastionRequest, normalizedEmail: string): Promise<PersonKey> {
    const holder = this.attach(req);
    const key = await this.keys.keyForEmail(this.transact, normalizedEmail);
    holder.add(key);
    return key;
  }
}
