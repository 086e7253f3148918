import { randomBytes } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { KeyManagementServiceClient } from '@google-cloud/kms';
import { crc32c } from './crc32c';
import { GcpKms } from './gcp-kms.adapter';
import { KeyRefInvalidError, KeyRevokedError, KeyUnavailableError, KmsIntegrityError } from './kms.port';
import { FakeGcpKmsServer, FakeKmsCorruption, startFakeGcpKmsServer } from './testing/fake-gcp-kms-server';
import { kmsContract } from './testing/kms-contract';

// The real @google-cloud/kms client over real gRPC to a KMS stand-in on 127.0.0.1 (Google has no emulator).

const RING = 'projects/bastion-test/locations/europe-west1/keyRings/tenants';
const MAX_ATTEMPTS = 4;
const aad = Buffer.from('bastion/org-dek/v1\0org-a');

describe('GcpKms against a KMS gRPC server on localhost', () => {
  let server: FakeGcpKmsServer;
  let kms: GcpKms;
  let sleeps: number[];
  let keys = 0;

  const newKey = (): string => {
    const name = `${RING}/cryptoKeys/org-${++keys}`;
    server.createKey(name);
    return name;
  };

  beforeAll(async () => {
    server = await startFakeGcpKmsServer();
    kms = new GcpKms({
      clientOptions: server.clientOptions(),
      retry: { maxAttempts: MAX_ATTEMPTS, initialDelayMs: 100, maxDelayMs: 1_000 },
      callTimeoutMs: 1_000,
      // Backoff is asserted, not waited for.
      sleep: async (ms) => {
        sleeps.push(ms);
      },
    });
  });

  beforeEach(() => {
    sleeps = [];
    server.resetCalls();
    server.clearFaults();
  });

  afterAll(async () => {
    await kms.close();
    await server.stop();
  });

  describe('the KMS contract', () => {
    kmsContract({
      kms: () => kms,
      foreignKeyRef: 'local://dev',
      newKey: async () => {
        const name = newKey();
        return {
          keyRef: name,
          disable: () => server.disable(name),
          enable: () => server.enable(name),
          destroy: () => server.destroy(name),
        };
      },
    });
  });

  it('sends CRC32C checksums of everything it sends, as Google recommends', async () => {
    const keyRef = newKey();
    const dek = randomBytes(32);
    const wrapped = await kms.wrap(keyRef, dek, aad);
    await kms.unwrap(keyRef, wrapped, aad);
    expect(server.received).toEqual([
      { method: 'encrypt', name: keyRef, plaintextCrc32c: crc32c(dek), additionalAuthenticatedDataCrc32c: crc32c(aad) },
      { method: 'decrypt', name: keyRef, ciphertextCrc32c: crc32c(wrapped), additionalAuthenticatedDataCrc32c: crc32c(aad) },
    ]);
  });

  it('unwraps a DEK wrapped before the key was rotated, and wraps new ones under the new primary', async () => {
    const keyRef = newKey();
    const dek = randomBytes(32);
    const before = await kms.wrap(keyRef, dek, aad);
    server.rotate(keyRef);
    await expect(kms.unwrap(keyRef, before, aad)).resolves.toEqual(dek);
    const after = await kms.wrap(keyRef, dek, aad);
    server.setVersionState(`${keyRef}/cryptoKeyVersions/1`, 'DISABLED');
    await expect(kms.unwrap(keyRef, after, aad)).resolves.toEqual(dek);
    await expect(kms.unwrap(keyRef, before, aad)).rejects.toBeInstanceOf(KeyRevokedError);
  });

  describe('revocation is final: mapped to KeyRevoked and asked once', () => {
    it.each([
      ['a disabled key', (name: string) => server.disable(name), 'disabled'],
      ['a destroyed key', (name: string) => server.destroy(name), 'destroyed'],
      ['removed IAM access', (name: string) => server.revokeAccess(name), 'permission-denied'],
    ])('%s', async (_case, revoke, reason) => {
      const keyRef = newKey();
      const wrapped = await kms.wrap(keyRef, randomBytes(32), aad);
      revoke(keyRef);
      server.resetCalls();

      const error = await kms.unwrap(keyRef, wrapped, aad).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(KeyRevokedError);
      expect(error).toMatchObject({ code: 'KMS.KEY_REVOKED', keyRef, reason });
      await expect(kms.wrap(keyRef, randomBytes(32), aad)).rejects.toBeInstanceOf(KeyRevokedError);
      expect(server.calls).toEqual({ encrypt: 1, decrypt: 1, getCryptoKey: 0 });
      expect(sleeps).toEqual([]);
    });

    it('a key that does not exist', async () => {
      const error = await kms.wrap(`${RING}/cryptoKeys/never-created`, randomBytes(32), aad).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'KMS.KEY_REVOKED', reason: 'not-found' });
      expect(server.calls.encrypt).toBe(1);
    });

    it('giving IAM access back restores the key', async () => {
      const keyRef = newKey();
      const dek = randomBytes(32);
      const wrapped = await kms.wrap(keyRef, dek, aad);
      server.revokeAccess(keyRef);
      await expect(kms.unwrap(keyRef, wrapped, aad)).rejects.toBeInstanceOf(KeyRevokedError);
      server.grantAccess(keyRef);
      await expect(kms.unwrap(keyRef, wrapped, aad)).resolves.toEqual(dek);
    });
  });

  describe('transient failures are retried with backoff, a bounded number of times', () => {
    it('UNAVAILABLE twice, then success', async () => {
      const keyRef = newKey();
      const dek = randomBytes(32);
      const wrapped = await kms.wrap(keyRef, dek, aad);
      server.resetCalls();
      server.failNext(status.UNAVAILABLE, { times: 2, method: 'decrypt' });

      await expect(kms.unwrap(keyRef, wrapped, aad)).resolves.toEqual(dek);
      expect(server.calls.decrypt).toBe(3);
      expect(sleeps).toHaveLength(2);
      expect(sleeps[0]).toBeGreaterThanOrEqual(50);
      expect(sleeps[0]).toBeLessThanOrEqual(100);
      expect(sleeps[1]).toBeGreaterThanOrEqual(100);
      expect(sleeps[1]).toBeLessThanOrEqual(200);
    });

    it('UNAVAILABLE every time: KeyUnavailable after the last attempt', async () => {
      const keyRef = newKey();
      server.failNext(status.UNAVAILABLE, { times: MAX_ATTEMPTS + 5, method: 'encrypt' });
      const error = await kms.wrap(keyRef, randomBytes(32), aad).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(KeyUnavailableError);
      expect(error).toMatchObject({ code: 'KMS.KEY_UNAVAILABLE', keyRef });
      expect((error as Error).message).toContain(`${MAX_ATTEMPTS} times (last: UNAVAILABLE)`);
      expect(server.calls.encrypt).toBe(MAX_ATTEMPTS);
      expect(sleeps).toHaveLength(MAX_ATTEMPTS - 1);
    });

    it('RESOURCE_EXHAUSTED (quota) then success', async () => {
      const keyRef = newKey();
      server.failNext(status.RESOURCE_EXHAUSTED, { method: 'encrypt' });
      await expect(kms.wrap(keyRef, randomBytes(32), aad)).resolves.toBeInstanceOf(Buffer);
      expect(server.calls.encrypt).toBe(2);
    });

    it('an answer slower than the deadline (DEADLINE_EXCEEDED) then success', async () => {
      const keyRef = newKey();
      server.delayNext(3_000, { method: 'getCryptoKey' });
      await expect(kms.describe(keyRef)).resolves.toEqual({ keyRef, state: 'enabled', provider: 'gcp' });
      expect(server.calls.getCryptoKey).toBe(2);
      expect(sleeps).toHaveLength(1);
    });

    it('any other failure is KeyUnavailable without a retry', async () => {
      const keyRef = newKey();
      server.failNext(status.INTERNAL, { method: 'encrypt' });
      await expect(kms.wrap(keyRef, randomBytes(32), aad)).rejects.toBeInstanceOf(KeyUnavailableError);
      expect(server.calls.encrypt).toBe(1);
    });
  });

  describe('integrity', () => {
    it('wrong AAD is an integrity failure, not retried', async () => {
      const keyRef = newKey();
      const wrapped = await kms.wrap(keyRef, randomBytes(32), aad);
      server.resetCalls();
      await expect(kms.unwrap(keyRef, wrapped, Buffer.from('bastion/org-dek/v1\0org-b'))).rejects.toBeInstanceOf(KmsIntegrityError);
      expect(server.calls.decrypt).toBe(1);
    });

    it.each<[FakeKmsCorruption, 'wrap' | 'unwrap']>([
      ['encrypt.ciphertextCrc32c', 'wrap'],
      ['encrypt.verifiedPlaintextCrc32c', 'wrap'],
      ['encrypt.verifiedAdditionalAuthenticatedDataCrc32c', 'wrap'],
      ['encrypt.name', 'wrap'],
      ['encrypt.request', 'wrap'],
      ['decrypt.plaintextCrc32c', 'unwrap'],
      ['decrypt.request', 'unwrap'],
    ])('a corrupted %s is refused as an integrity failure', async (corruption, operation) => {
      const keyRef = newKey();
      const wrapped = await kms.wrap(keyRef, randomBytes(32), aad);
      server.resetCalls();
      server.corruptNext(corruption);
      const attempt = operation === 'wrap' ? kms.wrap(keyRef, randomBytes(32), aad) : kms.unwrap(keyRef, wrapped, aad);
      const error = await attempt.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(KmsIntegrityError);
      expect(error).toMatchObject({ code: 'KMS.INTEGRITY', keyRef });
      expect(server.calls.encrypt + server.calls.decrypt).toBe(1);
    });
  });

  describe('describe', () => {
    it('reports the primary version state', async () => {
      const keyRef = newKey();
      await expect(kms.describe(keyRef)).resolves.toEqual({ keyRef, state: 'enabled', provider: 'gcp' });
      server.disable(keyRef);
      await expect(kms.describe(keyRef)).resolves.toMatchObject({ state: 'disabled' });
      server.destroy(keyRef);
      await expect(kms.describe(keyRef)).resolves.toMatchObject({ state: 'destroyed' });
    });

    it('without access to the key it reports the key revoked', async () => {
      const keyRef = newKey();
      server.revokeAccess(keyRef);
      await expect(kms.describe(keyRef)).rejects.toMatchObject({ code: 'KMS.KEY_REVOKED', reason: 'permission-denied' });
    });
  });

  it('refuses a pinned version before any call', async () => {
    const keyRef = newKey();
    await expect(kms.wrap(`${keyRef}/cryptoKeyVersions/1`, randomBytes(32), aad)).rejects.toBeInstanceOf(KeyRefInvalidError);
    expect(server.calls).toEqual({ encrypt: 0, decrypt: 0, getCryptoKey: 0 });
  });

  it('the test server checks request checksums as Google does (a wrong one is INVALID_ARGUMENT)', async () => {
    const keyRef = newKey();
    const client = new KeyManagementServiceClient(server.clientOptions());
    try {
      const plaintext = randomBytes(32);
      const error = await client
        .encrypt({ name: keyRef, plaintext, plaintextCrc32c: { value: (crc32c(plaintext) ^ 1) >>> 0 } }, { retry: null })
        .catch((e: unknown) => e);
      expect(error).toMatchObject({ code: status.INVALID_ARGUMENT });
      const [response] = await client.encrypt({ name: keyRef, plaintext }, { retry: null });
      // Nothing sent, nothing verified.
      expect(response.verifiedPlaintextCrc32c).toBe(false);
    } finally {
      await client.close();
    }
  });
});
