import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { crc32c } from '../crc32c';
import type { GcpKmsClientOptions } from '../gcp-kms.adapter';

/**
 * A gRPC server on 127.0.0.1 speaking enough of Google Cloud KMS v1 (`Encrypt`, `Decrypt`, `GetCryptoKey`) for the
 * adapter's wire path to be tested with the real `@google-cloud/kms` client: Google has no KMS emulator. It is
 * built from the service definition the client package ships, so a field renamed upstream breaks here too.
 *
 * It behaves as Google documents: real AES-256-GCM per key version with the AAD bound; request checksums checked
 * (a mismatch is INVALID_ARGUMENT) and response checksums computed; a disabled or destroyed version is
 * FAILED_PRECONDITION, removed IAM access PERMISSION_DENIED, an unknown key NOT_FOUND. Faults are injectable:
 * failing statuses, slow answers, corrupted responses, requests corrupted "in transit".
 */

export type FakeKmsMethod = 'encrypt' | 'decrypt' | 'getCryptoKey';
export type FakeKeyVersionState = 'ENABLED' | 'DISABLED' | 'DESTROYED';

/** Where a fault bends the truth; each maps to one check the adapter must make. */
export type FakeKmsCorruption =
  /** The ciphertext checksum in an Encrypt response no longer matches the ciphertext. */
  | 'encrypt.ciphertextCrc32c'
  /** Encrypt answers as if it had not verified the plaintext checksum. */
  | 'encrypt.verifiedPlaintextCrc32c'
  | 'encrypt.verifiedAdditionalAuthenticatedDataCrc32c'
  /** Encrypt answers with another key's version name. */
  | 'encrypt.name'
  /** The plaintext checksum in a Decrypt response no longer matches the plaintext. */
  | 'decrypt.plaintextCrc32c'
  /** One bit of the request's plaintext or ciphertext flips before the server checks the request's checksums. */
  | 'encrypt.request'
  | 'decrypt.request';

export interface ReceivedRequest {
  readonly method: FakeKmsMethod;
  readonly name: string;
  /** The checksums the client sent, as numbers; no payload is kept. */
  readonly plaintextCrc32c?: number;
  readonly ciphertextCrc32c?: number;
  readonly additionalAuthenticatedDataCrc32c?: number;
}

export interface FakeGcpKmsServer {
  readonly port: number;
  /** Options that point `KeyManagementServiceClient` (or `GcpKms`) at this server. */
  clientOptions(): GcpKmsClientOptions;
  /** Creates a key whose version 1 is primary and enabled, with `name` a full crypto key resource name. */
  createKey(name: string): void;
  /** Adds a version and makes it primary; returns its resource name. Older versions still decrypt. */
  rotate(name: string): string;
  /** Sets every version of the key; `destroy` also erases the material. */
  disable(name: string): void;
  enable(name: string): void;
  destroy(name: string): void;
  setVersionState(versionName: string, state: FakeKeyVersionState): void;
  /** Removes (or gives back) the caller's IAM access to the key. */
  revokeAccess(name: string): void;
  grantAccess(name: string): void;
  /** The next `times` calls (to `method` only, if given) fail with `code`. */
  failNext(code: grpc.status, options?: { times?: number; method?: FakeKmsMethod }): void;
  /** The next `times` calls (to `method`, if given) answer only after `ms`, e.g. past the client's deadline. */
  delayNext(ms: number, options?: { times?: number; method?: FakeKmsMethod }): void;
  corruptNext(corruption: FakeKmsCorruption, times?: number): void;
  /** Calls received per method since start (or the last reset), faults included. */
  readonly calls: Readonly<Record<FakeKmsMethod, number>>;
  readonly received: readonly ReceivedRequest[];
  resetCalls(): void;
  /** Drops injected faults and corruptions not yet consumed. */
  clearFaults(): void;
  stop(): Promise<void>;
}

const SERVICE = 'google.cloud.kms.v1.KeyManagementService';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const MAX_BYTES = 64 * 1024;
const CRYPTO_KEY_NAME = /^projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/]+$/;

interface Int64Value {
  value?: string | number | null;
}
interface EncryptRequest {
  name: string;
  plaintext: Buffer;
  additionalAuthenticatedData: Buffer;
  plaintextCrc32c: Int64Value | null;
  additionalAuthenticatedDataCrc32c: Int64Value | null;
}
interface DecryptRequest {
  name: string;
  ciphertext: Buffer;
  additionalAuthenticatedData: Buffer;
  ciphertextCrc32c: Int64Value | null;
  additionalAuthenticatedDataCrc32c: Int64Value | null;
}
interface GetCryptoKeyRequest {
  name: string;
}

interface FakeVersion {
  readonly id: number;
  state: FakeKeyVersionState;
  material: Buffer | null;
}
interface FakeKey {
  readonly versions: FakeVersion[];
  primary: number;
  accessible: boolean;
}

interface Fault {
  readonly method: FakeKmsMethod | undefined;
  readonly code?: grpc.status;
  readonly delayMs?: number;
}

class RpcError extends Error {
  constructor(
    readonly code: grpc.status,
    readonly details: string,
  ) {
    super(details);
  }
}

function loadServiceDefinition(): grpc.ServiceDefinition {
  const kmsRoot = dirname(require.resolve('@google-cloud/kms/package.json'));
  // google-gax (the client's own dependency) ships the google/api and google/protobuf files the service imports.
  const gaxProtos = join(dirname(require.resolve('google-gax', { paths: [kmsRoot] })), '..', 'protos');
  const definition = protoLoader.loadSync('google/cloud/kms/v1/service.proto', {
    includeDirs: [join(kmsRoot, 'build', 'protos'), gaxProtos],
    keepCase: false,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  return definition[SERVICE] as grpc.ServiceDefinition;
}

export async function startFakeGcpKmsServer(): Promise<FakeGcpKmsServer> {
  const keys = new Map<string, FakeKey>();
  const faults: Fault[] = [];
  const corruptions: FakeKmsCorruption[] = [];
  const calls: Record<FakeKmsMethod, number> = { encrypt: 0, decrypt: 0, getCryptoKey: 0 };
  const received: ReceivedRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();

  const keyOf = (name: string): FakeKey => {
    const key = keys.get(name);
    if (key === undefined) throw new Error(`Fake KMS: no key ${name}`);
    return key;
  };

  const takeFault = (method: FakeKmsMethod): Fault | undefined => {
    const index = faults.findIndex((fault) => fault.method === undefined || fault.method === method);
    return index < 0 ? undefined : faults.splice(index, 1)[0];
  };

  const takeCorruption = (corruption: FakeKmsCorruption): boolean => {
    const index = corruptions.indexOf(corruption);
    if (index < 0) return false;
    corruptions.splice(index, 1);
    return true;
  };

  // Google checks IAM before anything else, and cannot tell "no access" from "no such key" to a caller without
  // access; an unknown key still answers NOT_FOUND here so both mappings can be tested.
  const usableKey = (name: string, permission: string): FakeKey => {
    const key = keys.get(name);
    if (key === undefined) throw new RpcError(grpc.status.NOT_FOUND, `${name} not found.`);
    if (!key.accessible) {
      throw new RpcError(grpc.status.PERMISSION_DENIED, `Permission '${permission}' denied on resource '${name}' (or it may not exist).`);
    }
    return key;
  };

  const requireEnabled = (name: string, version: FakeVersion): Buffer => {
    if (version.state !== 'ENABLED' || version.material === null) {
      throw new RpcError(
        grpc.status.FAILED_PRECONDITION,
        `${name}/cryptoKeyVersions/${version.id} is not enabled, current state is: ${version.state}.`,
      );
    }
    return version.material;
  };

  const checkCrc = (data: Buffer, sent: Int64Value | null, field: string, dataField: string): number | undefined => {
    if (sent === null || sent.value === null || sent.value === undefined) return undefined;
    const value = Number(sent.value);
    if (value !== crc32c(data)) {
      throw new RpcError(grpc.status.INVALID_ARGUMENT, `The checksum in field ${field} did not match the data in field ${dataField}.`);
    }
    return value;
  };

  const encrypt = (request: EncryptRequest): object => {
    // Encrypt accepts a crypto key (its primary version is used) or one version.
    const [keyName, versionId] = splitVersion(request.name);
    const key = usableKey(keyName, 'cloudkms.cryptoKeyVersions.useToEncrypt');
    const plaintext = takeCorruption('encrypt.request') ? flipBit(request.plaintext) : request.plaintext;
    if (plaintext.length > MAX_BYTES || request.additionalAuthenticatedData.length > MAX_BYTES) {
      throw new RpcError(grpc.status.INVALID_ARGUMENT, 'The request is too large.');
    }
    const plaintextCrc = checkCrc(plaintext, request.plaintextCrc32c, 'plaintext_crc32c', 'plaintext');
    const aadCrc = checkCrc(
      request.additionalAuthenticatedData,
      request.additionalAuthenticatedDataCrc32c,
      'additional_authenticated_data_crc32c',
      'additional_authenticated_data',
    );
    const version = key.versions.find((candidate) => candidate.id === (versionId ?? key.primary));
    if (version === undefined) throw new RpcError(grpc.status.NOT_FOUND, `${request.name} not found.`);
    const material = requireEnabled(keyName, version);
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', material, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(request.additionalAuthenticatedData);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(version.id);
    const ciphertext = Buffer.concat([header, nonce, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    const ciphertextCrc = crc32c(ciphertext);
    return {
      name: takeCorruption('encrypt.name')
        ? `${keyName}-other/cryptoKeyVersions/${version.id}`
        : `${keyName}/cryptoKeyVersions/${version.id}`,
      ciphertext,
      ciphertextCrc32c: { value: String(takeCorruption('encrypt.ciphertextCrc32c') ? (ciphertextCrc ^ 1) >>> 0 : ciphertextCrc) },
      verifiedPlaintextCrc32c: plaintextCrc !== undefined && !takeCorruption('encrypt.verifiedPlaintextCrc32c'),
      verifiedAdditionalAuthenticatedDataCrc32c:
        aadCrc !== undefined && !takeCorruption('encrypt.verifiedAdditionalAuthenticatedDataCrc32c'),
      protectionLevel: 'SOFTWARE',
    };
  };

  const decrypt = (request: DecryptRequest): object => {
    if (!CRYPTO_KEY_NAME.test(request.name)) {
      throw new RpcError(grpc.status.INVALID_ARGUMENT, 'Decrypt takes a crypto key name, not a version.');
    }
    const key = usableKey(request.name, 'cloudkms.cryptoKeyVersions.useToDecrypt');
    const ciphertext = takeCorruption('decrypt.request') ? flipBit(request.ciphertext) : request.ciphertext;
    checkCrc(ciphertext, request.ciphertextCrc32c, 'ciphertext_crc32c', 'ciphertext');
    checkCrc(
      request.additionalAuthenticatedData,
      request.additionalAuthenticatedDataCrc32c,
      'additional_authenticated_data_crc32c',
      'additional_authenticated_data',
    );
    const invalid = (): RpcError => new RpcError(grpc.status.INVALID_ARGUMENT, 'Decryption failed: the ciphertext is invalid.');
    if (ciphertext.length < 4 + NONCE_BYTES + TAG_BYTES) throw invalid();
    const version = key.versions.find((candidate) => candidate.id === ciphertext.readUInt32BE(0));
    if (version === undefined) throw invalid();
    const material = requireEnabled(request.name, version);
    const decipher = createDecipheriv('aes-256-gcm', material, ciphertext.subarray(4, 4 + NONCE_BYTES), {
      authTagLength: TAG_BYTES,
    });
    decipher.setAAD(request.additionalAuthenticatedData);
    decipher.setAuthTag(ciphertext.subarray(ciphertext.length - TAG_BYTES));
    let plaintext: Buffer;
    try {
      plaintext = Buffer.concat([decipher.update(ciphertext.subarray(4 + NONCE_BYTES, ciphertext.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw invalid();
    }
    const plaintextCrc = crc32c(plaintext);
    return {
      plaintext,
      plaintextCrc32c: { value: String(takeCorruption('decrypt.plaintextCrc32c') ? (plaintextCrc ^ 1) >>> 0 : plaintextCrc) },
      usedPrimary: version.id === key.primary,
      protectionLevel: 'SOFTWARE',
    };
  };

  const getCryptoKey = (request: GetCryptoKeyRequest): object => {
    const key = usableKey(request.name, 'cloudkms.cryptoKeys.get');
    const primary = key.versions.find((version) => version.id === key.primary);
    return {
      name: request.name,
      purpose: 'ENCRYPT_DECRYPT',
      primary: primary && {
        name: `${request.name}/cryptoKeyVersions/${primary.id}`,
        state: primary.state,
        protectionLevel: 'SOFTWARE',
        algorithm: 'GOOGLE_SYMMETRIC_ENCRYPTION',
      },
    };
  };

  function unary<Req extends { name: string }>(method: FakeKmsMethod, handle: (request: Req) => object, record: (request: Req) => ReceivedRequest) {
    return (call: grpc.ServerUnaryCall<Req, object>, callback: grpc.sendUnaryData<object>): void => {
      calls[method]++;
      received.push(record(call.request));
      const fault = takeFault(method);
      const answer = (): void => {
        if (fault?.code !== undefined) {
          callback({ code: fault.code, details: `Injected ${grpc.status[fault.code]}.` });
          return;
        }
        try {
          callback(null, handle(call.request));
        } catch (error) {
          if (error instanceof RpcError) callback({ code: error.code, details: error.details });
          else callback({ code: grpc.status.INTERNAL, details: 'Fake KMS internal error.' });
        }
      };
      if (fault?.delayMs === undefined) {
        answer();
        return;
      }
      const timer = setTimeout(() => {
        timers.delete(timer);
        answer();
      }, fault.delayMs);
      timers.add(timer);
    };
  }

  const server = new grpc.Server();
  server.addService(loadServiceDefinition(), {
    Encrypt: unary<EncryptRequest>('encrypt', encrypt, (request) => ({
      method: 'encrypt',
      name: request.name,
      ...optionalCrc('plaintextCrc32c', request.plaintextCrc32c),
      ...optionalCrc('additionalAuthenticatedDataCrc32c', request.additionalAuthenticatedDataCrc32c),
    })),
    Decrypt: unary<DecryptRequest>('decrypt', decrypt, (request) => ({
      method: 'decrypt',
      name: request.name,
      ...optionalCrc('ciphertextCrc32c', request.ciphertextCrc32c),
      ...optionalCrc('additionalAuthenticatedDataCrc32c', request.additionalAuthenticatedDataCrc32c),
    })),
    GetCryptoKey: unary<GetCryptoKeyRequest>('getCryptoKey', getCryptoKey, (request) => ({ method: 'getCryptoKey', name: request.name })),
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound)));
  });

  const setAll = (name: string, state: FakeKeyVersionState): void => {
    for (const version of keyOf(name).versions) {
      if (version.state === 'DESTROYED') continue;
      version.state = state;
      if (state === 'DESTROYED') version.material = null;
    }
  };

  return {
    port,
    clientOptions: () => ({
      apiEndpoint: '127.0.0.1',
      port,
      sslCreds: grpc.credentials.createInsecure(),
      fallback: false,
      // Named so google-auth-library never goes looking for credentials (which would probe the GCE metadata
      // server): with a universe domain given and channel credentials supplied, it needs none.
      universeDomain: 'googleapis.com',
    }),
    createKey(name) {
      if (!CRYPTO_KEY_NAME.test(name)) throw new Error(`Fake KMS: ${name} is not a crypto key name`);
      if (keys.has(name)) throw new Error(`Fake KMS: ${name} exists`);
      keys.set(name, { versions: [{ id: 1, state: 'ENABLED', material: randomBytes(32) }], primary: 1, accessible: true });
    },
    rotate(name) {
      const key = keyOf(name);
      const id = Math.max(...key.versions.map((version) => version.id)) + 1;
      key.versions.push({ id, state: 'ENABLED', material: randomBytes(32) });
      key.primary = id;
      return `${name}/cryptoKeyVersions/${id}`;
    },
    disable: (name) => setAll(name, 'DISABLED'),
    enable: (name) => setAll(name, 'ENABLED'),
    destroy: (name) => setAll(name, 'DESTROYED'),
    setVersionState(versionName, state) {
      const [name, id] = splitVersion(versionName);
      const version = keyOf(name).versions.find((candidate) => candidate.id === id);
      if (version === undefined) throw new Error(`Fake KMS: no version ${versionName}`);
      if (version.state === 'DESTROYED') throw new Error(`Fake KMS: ${versionName} is destroyed for good`);
      version.state = state;
      if (state === 'DESTROYED') version.material = null;
    },
    revokeAccess(name) {
      keyOf(name).accessible = false;
    },
    grantAccess(name) {
      keyOf(name).accessible = true;
    },
    failNext(code, options = {}) {
      for (let i = 0; i < (options.times ?? 1); i++) faults.push({ method: options.method, code });
    },
    delayNext(ms, options = {}) {
      for (let i = 0; i < (options.times ?? 1); i++) faults.push({ method: options.method, delayMs: ms });
    },
    corruptNext(corruption, times = 1) {
      for (let i = 0; i < times; i++) corruptions.push(corruption);
    },
    calls,
    received,
    resetCalls() {
      calls.encrypt = calls.decrypt = calls.getCryptoKey = 0;
      received.length = 0;
    },
    clearFaults() {
      faults.length = 0;
      corruptions.length = 0;
    },
    async stop() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      // Not tryShutdown: it waits for clients to go away, and a test that forgot to close its client would hang.
      server.forceShutdown();
    },
  };
}

function splitVersion(name: string): [string, number | undefined] {
  const match = /^(.*)\/cryptoKeyVersions\/([1-9][0-9]*)$/.exec(name);
  return match ? [match[1] as string, Number(match[2])] : [name, undefined];
}

function flipBit(data: Buffer): Buffer {
  const copy = Buffer.from(data);
  if (copy.length > 0) copy[copy.length - 1] = (copy[copy.length - 1] as number) ^ 1;
  return copy;
}

function optionalCrc<K extends string>(field: K, sent: Int64Value | null): Partial<Record<K, number>> {
  if (sent === null || sent.value === null || sent.value === undefined) return {};
  return { [field]: Number(sent.value) } as Partial<Record<K, number>>;
}
