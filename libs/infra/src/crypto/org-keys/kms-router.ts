import {
  KeyDescription,
  KeyRefInvalidError,
  KeyRevokedError,
  Kms,
  KmsProvider,
  LOCAL_KEY_REF_PREFIX,
  LocalKeyAdminError,
  LocalKms,
  parseGcpWrappingKeyRef,
  parseLocalKeyRef,
} from '../kms';

export interface KmsRouterOptions {
  /** The platform's local KMS (development, tests, and the platform key of orgs without their own). */
  readonly local?: LocalKms;
  /** Google Cloud KMS; absent when the deployment has no credentials for it. */
  readonly gcp?: Kms;
}

/**
 * One {@link Kms} over the configured adapters, choosing by the key reference: `local://<name>` goes to the local
 * KMS, `projects/…/cryptoKeys/<key>` to Google Cloud KMS. A reference for an adapter this deployment lacks is a
 * {@link KeyRefInvalidError} before any call.
 */
export class KmsRouter implements Kms {
  readonly #local: LocalKms | undefined;
  readonly #gcp: Kms | undefined;
  readonly #ensured = new Map<string, Promise<void>>();

  constructor(options: KmsRouterOptions) {
    this.#local = options.local;
    this.#gcp = options.gcp;
  }

  /** Which provider a reference names (`local` or `gcp`), whether or not it is configured here. */
  static providerOf(keyRef: string): KmsProvider {
    if (keyRef.startsWith(LOCAL_KEY_REF_PREFIX)) return 'local';
    if (keyRef.startsWith('projects/')) return 'gcp';
    throw new KeyRefInvalidError(keyRef, `expected ${LOCAL_KEY_REF_PREFIX}<name> or projects/<project>/locations/<location>/keyRings/<ring>/cryptoKeys/<key>`);
  }

  /** Is that provider configured in this deployment? */
  has(provider: KmsProvider): boolean {
    return provider === 'local' ? this.#local !== undefined : this.#gcp !== undefined;
  }

  /**
   * Checks a reference a DEK may be wrapped under, without any network call: well formed (a crypto key, never one
   * of its versions) and served by a configured adapter. Returns its provider.
   */
  assertWrappingKeyRef(keyRef: string): KmsProvider {
    const provider = KmsRouter.providerOf(keyRef);
    if (provider === 'local') parseLocalKeyRef(keyRef);
    else parseGcpWrappingKeyRef(keyRef);
    this.#route(keyRef);
    return provider;
  }

  wrap(keyRef: string, dek: Buffer, aad: Buffer): Promise<Buffer> {
    return this.#route(keyRef).wrap(keyRef, dek, aad);
  }

  unwrap(keyRef: string, wrapped: Buffer, aad: Buffer): Promise<Buffer> {
    return this.#route(keyRef).unwrap(keyRef, wrapped, aad);
  }

  describe(keyRef: string): Promise<KeyDescription> {
    return this.#route(keyRef).describe(keyRef);
  }

  /**
   * Creates the local key `keyRef` names if the keyring lacks it (the platform key, on first use). A key that
   * exists is left as it is — disabled or destroyed included: re-creating a destroyed platform key would silently
   * replace the one that wrapped every platform-wrapped DEK. References to other providers are left alone.
   */
  ensureLocalKey(keyRef: string): Promise<void> {
    if (KmsRouter.providerOf(keyRef) !== 'local') return Promise.resolve();
    let pending = this.#ensured.get(keyRef);
    if (pending === undefined) {
      pending = this.#createLocalKeyIfMissing(keyRef);
      this.#ensured.set(keyRef, pending);
      // A failure (an unreadable keyring) is retried by the next caller rather than remembered.
      pending.catch(() => this.#ensured.delete(keyRef));
    }
    return pending;
  }

  async #createLocalKeyIfMissing(keyRef: string): Promise<void> {
    const local = this.#localOrThrow(keyRef);
    const name = parseLocalKeyRef(keyRef);
    try {
      await local.describe(keyRef);
      return;
    } catch (error) {
      if (!(error instanceof KeyRevokedError && error.reason === 'not-found')) throw error;
    }
    try {
      await local.createKey(name);
    } catch (error) {
      // Another process created it between our look and our write: that key is the one to use.
      if (!(error instanceof LocalKeyAdminError)) throw error;
      await local.describe(keyRef);
    }
  }

  #route(keyRef: string): Kms {
    return KmsRouter.providerOf(keyRef) === 'local' ? this.#localOrThrow(keyRef) : this.#gcpOrThrow(keyRef);
  }

  #localOrThrow(keyRef: string): LocalKms {
    if (this.#local === undefined) throw new KeyRefInvalidError(keyRef, 'the local KMS is not configured on this deployment');
    return this.#local;
  }

  #gcpOrThrow(keyRef: string): Kms {
    if (this.#gcp === undefined) throw new KeyRefInvalidError(keyRef, 'Google Cloud KMS is not configured on this deployment');
    return this.#gcp;
  }
}
