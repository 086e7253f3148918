import { randomBytes } from 'node:crypto';
import { GcpKms } from './gcp-kms.adapter';
import { KmsIntegrityError } from './kms.port';

// Against real Google Cloud KMS, only when configured: a service account key file with
// roles/cloudkms.cryptoKeyEncrypterDecrypter (and roles/cloudkms.viewer for describe) on the key named by
// BASTION_TEST_GCP_KMS_KEY (projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>, a symmetric key).
const credentials = process.env.GOOGLE_APPLICATION_CREDENTIALS;
const keyRef = process.env.BASTION_TEST_GCP_KMS_KEY;

// jest.config.js runs this suite only when both are set.
if (!credentials || !keyRef) throw new Error('The real Cloud KMS suite needs GOOGLE_APPLICATION_CREDENTIALS and BASTION_TEST_GCP_KMS_KEY.');

describe('GcpKms against real Google Cloud KMS', () => {
  let kms: GcpKms;
  const aad = Buffer.from(`bastion/org-dek/v1\0real-int-${randomBytes(4).toString('hex')}`);

  beforeAll(() => {
    kms = new GcpKms({ callTimeoutMs: 15_000 });
  });

  afterAll(async () => {
    await kms.close();
  });

  it('round-trips a DEK with its AAD (checksums verified both ways)', async () => {
    const dek = randomBytes(32);
    const wrapped = await kms.wrap(keyRef, dek, aad);
    await expect(kms.unwrap(keyRef, wrapped, aad)).resolves.toEqual(dek);
  });

  it('refuses another AAD as an integrity failure', async () => {
    const wrapped = await kms.wrap(keyRef, randomBytes(32), aad);
    await expect(kms.unwrap(keyRef, wrapped, Buffer.from('bastion/org-dek/v1\0another-org'))).rejects.toBeInstanceOf(
      KmsIntegrityError,
    );
  });

  it('refuses an altered wrapped DEK as an integrity failure', async () => {
    const wrapped = await kms.wrap(keyRef, randomBytes(32), aad);
    const altered = Buffer.from(wrapped);
    altered[altered.length - 1] = (altered[altered.length - 1] as number) ^ 1;
    await expect(kms.unwrap(keyRef, altered, aad)).rejects.toBeInstanceOf(KmsIntegrityError);
  });

  it('describes the key as enabled', async () => {
    await expect(kms.describe(keyRef)).resolves.toEqual({ keyRef, state: 'enabled', provider: 'gcp' });
  });
});
