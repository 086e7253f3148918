import { setTimeout as delay } from 'node:timers/promises';
import { KeyManagementServiceClient, protos } from '@google-cloud/kms';
import { assertRetryPolicy, backoffDelayMs, DEFAULT_RETRY_POLICY, RetryPolicy } from './backoff';
import { crc32c } from './crc32c';
import { classifyGcpKmsFailure, GcpKmsOperation, grpcStatusName, grpcStatusOf } from './gcp-kms-status';
import { parseGcpWrappingKeyRef } from './kms-key-ref';
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
 * Google Cloud KMS behind the KMS port (DESIGN §9), over gRPC with `@google-cloud/kms` 5.x.
 *
 * Integrity follows Google's data-integrity guide: every request carries CRC32C checksums of what it sends, and
 * every response is checked (Encrypt: Google verified both request checksums and the ciphertext matches its
 * checksum; Decrypt: the plaintext matches its checksum). A mismatch is a {@link KmsIntegrityError}.
 *
 * Retries are ours, not the client library's: its defaults retry for up to ten minutes, far past any request a
 * user is waiting on, and would hide the attempts from the tests that count them.
 *
 * Permissions: wrap and unwrap need `roles/cloudkms.cryptoKeyEncrypterDecrypter` on the key; `describe` reads the
 * key (`cloudkms.cryptoKeys.get`, in `roles/cloudkms.viewer`) and reports PERMISSION_DENIED as revoked otherwise.
 */

export type GcpKmsClientOptions = NonNullable<ConstructorParameters<typeof KeyManagementServiceClient>[0]>;

export interface GcpKmsOptions {
  /** For the Google client: credentials, endpoint (tests point it at a local server). Ignored when `client` is given. */
  readonly clientOptions?: GcpKmsClientOptions;
  readonly client?: KeyManagementServiceClient;
  readonly retry?: Partial<RetryPolicy>;
  /** Deadline of each attempt. */
  readonly callTimeoutMs?: number;
  /** Injected by tests so backoff costs no wall time. */
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
}

const DEFAULT_CALL_TIMEOUT_MS = 5_000;
const VersionState = protos.google.cloud.kms.v1.CryptoKeyVersion.CryptoKeyVersionState;
type Int64Like = protos.google.protobuf.IInt64Value['value'];

export class GcpKms implements Kms {
  readonly #client: KeyManagementServiceClient;
  readonly #retry: RetryPolicy;
  readonly #callTimeoutMs: number;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #random: () => number;

  constructor(options: GcpKmsOptions = {}) {
    this.#client = options.client ?? new KeyManagementServiceClient(options.clientOptions);
    this.#retry = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    assertRetryPolicy(this.#retry);
    this.#callTimeoutMs = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    this.#sleep = options.sleep ?? ((ms) => delay(ms));
    this.#random = options.random ?? Math.random;
  }

  async wrap(keyRef: string, dek: Buffer, aad: Buffer): Promise<Buffer> {
    const { cryptoKeyName } = parseGcpWrappingKeyRef(keyRef);
    assertWrapInputs(dek, aad);
    const [response] = await this.#call(keyRef, 'encrypt', () =>
      this.#client.encrypt(
        {
          name: cryptoKeyName,
          plaintext: dek,
          additionalAuthenticatedData: aad,
          plaintextCrc32c: { value: crc32c(dek) },
          additionalAuthenticatedDataCrc32c: { value: crc32c(aad) },
        },
        this.#callOptions(),
      ),
    );
    // Google sets these only when it recomputed our checksums and they matched; false means it never checked.
    if (response.verifiedPlaintextCrc32c !== true) throw new KmsIntegrityError(keyRef, 'Encrypt did not verify the plaintext checksum');
    if (response.verifiedAdditionalAuthenticatedDataCrc32c !== true) {
      throw new KmsIntegrityError(keyRef, 'Encrypt did not verify the AAD checksum');
    }
    const ciphertext = toBuffer(response.ciphertext);
    if (ciphertext.length === 0 || int64(response.ciphertextCrc32c?.value) !== crc32c(ciphertext)) {
      throw new KmsIntegrityError(keyRef, 'Encrypt response does not match its checksum');
    }
    // Google's own advice: check which key version answered. One from another key unwraps nowhere we look later.
    if (!response.name?.startsWith(`${cryptoKeyName}/cryptoKeyVersions/`)) {
      throw new KmsIntegrityError(keyRef, 'Encrypt answered for another key');
    }
    return ciphertext;
  }

  async unwrap(keyRef: string, wrapped: Buffer, aad: Buffer): Promise<Buffer> {
    const { cryptoKeyName } = parseGcpWrappingKeyRef(keyRef);
    assertAad(aad);
    if (wrapped.length === 0) throw new KmsIntegrityError(keyRef, 'wrapped key is empty');
    const [response] = await this.#call(keyRef, 'decrypt', () =>
      this.#client.decrypt(
        {
          name: cryptoKeyName,
          ciphertext: wrapped,
          additionalAuthenticatedData: aad,
          ciphertextCrc32c: { value: crc32c(wrapped) },
          additionalAuthenticatedDataCrc32c: { value: crc32c(aad) },
        },
        this.#callOptions(),
      ),
    );
    const plaintext = toBuffer(response.plaintext);
    if (int64(response.plaintextCrc32c?.value) !== crc32c(plaintext)) {
      throw new KmsIntegrityError(keyRef, 'Decrypt response does not match its checksum');
    }
    if (plaintext.length !== DEK_BYTES) throw new KmsIntegrityError(keyRef, 'unwrapped key is not a DEK');
    return plaintext;
  }

  async describe(keyRef: string): Promise<KeyDescription> {
    const { cryptoKeyName } = parseGcpWrappingKeyRef(keyRef);
    const [key] = await this.#call(keyRef, 'getCryptoKey', () =>
      this.#client.getCryptoKey({ name: cryptoKeyName }, this.#callOptions()),
    );
    return { keyRef, state: keyStateOf(key.primary?.state), provider: 'gcp' };
  }

  /** Closes the client's gRPC channel (also a client passed in); the adapter is unusable afterwards. */
  close(): Promise<void> {
    return this.#client.close();
  }

  // `retry: null` turns the library's own retrying off (see the class comment); the timeout still applies.
  #callOptions(): { timeout: number; retry: null } {
    return { timeout: this.#callTimeoutMs, retry: null };
  }

  async #call<T>(keyRef: string, operation: GcpKmsOperation, send: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await send();
      } catch (error) {
        const failure = classifyGcpKmsFailure(error, operation);
        const status = grpcStatusName(grpcStatusOf(error));
        switch (failure.kind) {
          case 'revoked':
            throw new KeyRevokedError(keyRef, failure.reason, { cause: error });
          case 'integrity':
            throw new KmsIntegrityError(keyRef, `${operation} refused the bytes (${status})`, { cause: error });
          case 'unavailable':
            throw new KeyUnavailableError(keyRef, `${operation} failed (${status})`, { cause: error });
          case 'transient':
            if (attempt >= this.#retry.maxAttempts) {
              throw new KeyUnavailableError(keyRef, `${operation} failed ${attempt} times (last: ${status})`, { cause: error });
            }
            await this.#sleep(backoffDelayMs(attempt, this.#retry, this.#random));
            break;
          default: {
            const _exhaustive: never = failure;
            throw _exhaustive;
          }
        }
      }
    }
  }
}

function toBuffer(bytes: Uint8Array | string | null | undefined): Buffer {
  if (bytes === null || bytes === undefined) return Buffer.alloc(0);
  // The REST transport hands bytes over as base64 text; gRPC as a Buffer.
  return typeof bytes === 'string' ? Buffer.from(bytes, 'base64') : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** An int64 as it arrives (number, decimal string or Long); NaN when absent, so it never equals a checksum. */
function int64(value: Int64Like | undefined): number {
  if (value === null || value === undefined) return Number.NaN;
  return typeof value === 'number' ? value : Number(value.toString());
}

function keyStateOf(state: protos.google.cloud.kms.v1.ICryptoKeyVersion['state']): KeyState {
  // gRPC gives enum names, REST numbers; normalise to the name.
  const name = typeof state === 'number' ? VersionState[state] : state;
  switch (name) {
    case 'ENABLED':
      return 'enabled';
    case 'DESTROYED':
    case 'PENDING_EXTERNAL_DESTRUCTION':
    case 'EXTERNAL_DESTRUCTION_FAILED':
      return 'destroyed';
    // DESTROY_SCHEDULED can still be restored, so it is not destroyed yet; it cannot be used either.
    default:
      return 'disabled';
  }
}
