import { Inject, Injectable } from '@nestjs/common';
import type { PersonKey, PersonKeyService } from '@bastion/infra/crypto/person-keys';
import { IdentityRepository } from '@bastion/infra/identity/identity.repository';
import type { BastionRequest } from '../../auth/request-context';
import { SessionDatabase } from '../../auth/session-database';
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
  ) {}

  readonly transact = <T>(work: Parameters<SessionDatabase['anonymous']>[0]): Promise<T> => this.db.anonymous(work) as Promise<T>;

  /** Attaches the request's key holder (idempotent); the global guard does it for every request. */
  attach(req: BastionRequest): RequestPersonKeys {
    if (!(req.personKeys instanceof RequestPersonKeys)) req.personKeys = new RequestPersonKeys(this.keys);
    return req.personKeys as RequestPersonKeys;
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
