import { randomBytes } from 'node:crypto';
import { KeyRefInvalidError, KeyRevokedError, Kms, KmsIntegrityError } from '../kms.port';

/**
 * What every KMS adapter promises, run against each of them (the local KMS, Google's client against the fake
 * server). Each test gets a fresh, enabled key from `newKey`.
 */
export interface KmsContractKey {
  readonly keyRef: string;
  disable(): Promise<void> | void;
  enable(): Promise<void> | void;
  destroy(): Promise<void> | void;
}

export interface KmsContractSubject {
  kms(): Kms;
  newKey(): Promise<KmsContractKey>;
  /** A well-formed reference this adapter refuses (wrong provider, or a shape it does not accept). */
  readonly foreignKeyRef: string;
}

const aadFor = (orgId: string): Buffer => Buffer.from(`bastion/org-dek/v1\0${orgId}`, 'utf8');

function flipMiddleBit(data: Buffer): Buffer {
  const copy = Buffer.from(data);
  const middle = Math.floor(copy.length / 2);
  copy[middle] = (copy[middle] as number) ^ 0x01;
  return copy;
}

export function kmsContract(subject: KmsContractSubject): void {
  it('round-trips a DEK with its AAD, and the wrapped form does not contain the DEK', async () => {
    const { keyRef } = await subject.newKey();
    const dek = randomBytes(32);
    const wrapped = await subject.kms().wrap(keyRef, dek, aadFor('org-a'));
    expect(wrapped.includes(dek)).toBe(false);
    await expect(subject.kms().unwrap(keyRef, wrapped, aadFor('org-a'))).resolves.toEqual(dek);
  });

  it('wraps the same DEK differently each time', async () => {
    const { keyRef } = await subject.newKey();
    const dek = randomBytes(32);
    const first = await subject.kms().wrap(keyRef, dek, aadFor('org-a'));
    const second = await subject.kms().wrap(keyRef, dek, aadFor('org-a'));
    expect(first.equals(second)).toBe(false);
  });

  it("should not unwrap a DEK with another org's AAD", async () => {
    const { keyRef } = await subject.newKey();
    const wrapped = await subject.kms().wrap(keyRef, randomBytes(32), aadFor('org-a'));
    await expect(subject.kms().unwrap(keyRef, wrapped, aadFor('org-b'))).rejects.toBeInstanceOf(KmsIntegrityError);
  });

  it('should not unwrap an altered wrapped DEK', async () => {
    const { keyRef } = await subject.newKey();
    const wrapped = await subject.kms().wrap(keyRef, randomBytes(32), aadFor('org-a'));
    const error = await subject.kms().unwrap(keyRef, flipMiddleBit(wrapped), aadFor('org-a')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KmsIntegrityError);
    expect(error).toMatchObject({ code: 'KMS.INTEGRITY', keyRef });
  });

  it('should not unwrap a DEK wrapped under another key', async () => {
    const one = await subject.newKey();
    const other = await subject.newKey();
    const wrapped = await subject.kms().wrap(one.keyRef, randomBytes(32), aadFor('org-a'));
    await expect(subject.kms().unwrap(other.keyRef, wrapped, aadFor('org-a'))).rejects.toBeInstanceOf(KmsIntegrityError);
  });

  it('a disabled key neither wraps nor unwraps, and enabling it again restores both', async () => {
    const key = await subject.newKey();
    const dek = randomBytes(32);
    const wrapped = await subject.kms().wrap(key.keyRef, dek, aadFor('org-a'));
    await key.disable();
    await expect(subject.kms().unwrap(key.keyRef, wrapped, aadFor('org-a'))).rejects.toMatchObject({
      code: 'KMS.KEY_REVOKED',
      reason: 'disabled',
    });
    await expect(subject.kms().wrap(key.keyRef, dek, aadFor('org-a'))).rejects.toBeInstanceOf(KeyRevokedError);
    await expect(subject.kms().describe(key.keyRef)).resolves.toMatchObject({ keyRef: key.keyRef, state: 'disabled' });
    await key.enable();
    await expect(subject.kms().unwrap(key.keyRef, wrapped, aadFor('org-a'))).resolves.toEqual(dek);
    await expect(subject.kms().describe(key.keyRef)).resolves.toMatchObject({ state: 'enabled' });
  });

  it('a destroyed key unwraps nothing, for good', async () => {
    const key = await subject.newKey();
    const wrapped = await subject.kms().wrap(key.keyRef, randomBytes(32), aadFor('org-a'));
    await key.destroy();
    await expect(subject.kms().unwrap(key.keyRef, wrapped, aadFor('org-a'))).rejects.toMatchObject({
      code: 'KMS.KEY_REVOKED',
      reason: 'destroyed',
    });
    await expect(subject.kms().describe(key.keyRef)).resolves.toMatchObject({ state: 'destroyed' });
  });

  it('refuses a key reference it cannot serve before doing anything', async () => {
    await expect(subject.kms().wrap(subject.foreignKeyRef, randomBytes(32), aadFor('org-a'))).rejects.toBeInstanceOf(
      KeyRefInvalidError,
    );
  });

  it('refuses a DEK that is not 32 bytes and an empty AAD', async () => {
    const { keyRef } = await subject.newKey();
    await expect(subject.kms().wrap(keyRef, randomBytes(16), aadFor('org-a'))).rejects.toBeInstanceOf(RangeError);
    await expect(subject.kms().wrap(keyRef, randomBytes(32), Buffer.alloc(0))).rejects.toBeInstanceOf(RangeError);
  });
}
