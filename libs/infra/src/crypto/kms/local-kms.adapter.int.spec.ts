import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyRevokedError, KeyUnavailableError, KmsIntegrityError } from './kms.port';
import { LocalKeyAdminError, LocalKeyringError, LocalKms } from './local-kms.adapter';
import { kmsContract } from './testing/kms-contract';

const aad = Buffer.from('org-a');

describe('LocalKms', () => {
  let directory: string;
  let kms: LocalKms;
  let keys = 0;

  beforeEach(async () => {
    directory = join(await mkdtemp(join(tmpdir(), 'bastion-local-kms-')), 'kms');
    kms = new LocalKms({ directory });
  });

  afterEach(async () => {
    await rm(join(directory, '..'), { recursive: true, force: true });
  });

  describe('the KMS contract', () => {
    kmsContract({
      kms: () => kms,
      foreignKeyRef: 'projects/bastion-prod/locations/global/keyRings/r/cryptoKeys/k',
      newKey: async () => {
        const name = `key-${++keys}`;
        const keyRef = await kms.createKey(name);
        return { keyRef, disable: () => kms.disable(name), enable: () => kms.enable(name), destroy: () => kms.destroy(name) };
      },
    });
  });

  it('keeps its master keys in a 0600 file in a 0700 directory', async () => {
    await kms.createKey('platform');
    expect((await stat(directory)).mode & 0o777).toBe(0o700);
    expect((await stat(join(directory, 'keyring.json'))).mode & 0o777).toBe(0o600);
  });

  it('destroy erases the key material from the keyring', async () => {
    const keyRef = await kms.createKey('platform');
    const material = JSON.parse(await readFile(join(directory, 'keyring.json'), 'utf8')).keys.platform.material as string;
    const wrapped = await kms.wrap(keyRef, randomBytes(32), aad);
    await kms.destroy('platform');
    const text = await readFile(join(directory, 'keyring.json'), 'utf8');
    expect(text).not.toContain(material);
    expect(JSON.parse(text).keys.platform).toEqual({ state: 'destroyed' });
    await expect(kms.unwrap(keyRef, wrapped, aad)).rejects.toMatchObject({ reason: 'destroyed' });
    await expect(kms.enable('platform')).rejects.toBeInstanceOf(LocalKeyAdminError);
  });

  it('another process sees a key disabled at once (the file is the truth)', async () => {
    const keyRef = await kms.createKey('platform');
    const other = new LocalKms({ directory });
    const wrapped = await other.wrap(keyRef, randomBytes(32), aad);
    await kms.disable('platform');
    await expect(other.unwrap(keyRef, wrapped, aad)).rejects.toBeInstanceOf(KeyRevokedError);
  });

  it('an unknown key is reported as revoked (not found), like Google does', async () => {
    await expect(kms.wrap('local://nope', randomBytes(32), aad)).rejects.toMatchObject({ code: 'KMS.KEY_REVOKED', reason: 'not-found' });
    await expect(kms.describe('local://nope')).rejects.toBeInstanceOf(KeyRevokedError);
  });

  it('injected faults fail the next operations, then it works again', async () => {
    const keyRef = await kms.createKey('platform');
    const dek = randomBytes(32);
    const wrapped = await kms.wrap(keyRef, dek, aad);
    kms.failNext('unavailable', 2);
    kms.failNext('integrity');
    kms.failNext('revoked');
    await expect(kms.unwrap(keyRef, wrapped, aad)).rejects.toBeInstanceOf(KeyUnavailableError);
    await expect(kms.wrap(keyRef, dek, aad)).rejects.toBeInstanceOf(KeyUnavailableError);
    await expect(kms.unwrap(keyRef, wrapped, aad)).rejects.toBeInstanceOf(KmsIntegrityError);
    await expect(kms.describe(keyRef)).rejects.toBeInstanceOf(KeyRevokedError);
    await expect(kms.unwrap(keyRef, wrapped, aad)).resolves.toEqual(dek);
  });

  it('a truncated wrapped DEK is an integrity failure', async () => {
    const keyRef = await kms.createKey('platform');
    const wrapped = await kms.wrap(keyRef, randomBytes(32), aad);
    await expect(kms.unwrap(keyRef, wrapped.subarray(0, wrapped.length - 1), aad)).rejects.toBeInstanceOf(KmsIntegrityError);
  });

  it('refuses to create a key twice or under an unsafe name', async () => {
    await kms.createKey('platform');
    await expect(kms.createKey('platform')).rejects.toBeInstanceOf(LocalKeyAdminError);
    await expect(kms.createKey('../escape')).rejects.toBeInstanceOf(LocalKeyAdminError);
    await expect(kms.disable('missing')).rejects.toBeInstanceOf(LocalKeyAdminError);
  });

  it('concurrent admin operations in one process lose nothing', async () => {
    await Promise.all(Array.from({ length: 10 }, (_, i) => kms.createKey(`k${i}`)));
    const keyring = JSON.parse(await readFile(join(directory, 'keyring.json'), 'utf8'));
    expect(Object.keys(keyring.keys)).toHaveLength(10);
  });

  it('should not use a keyring other users can read', async () => {
    const keyRef = await kms.createKey('platform');
    await chmod(join(directory, 'keyring.json'), 0o644);
    await expect(kms.wrap(keyRef, randomBytes(32), aad)).rejects.toBeInstanceOf(LocalKeyringError);
  });

  it('should not use a file that is not a keyring it wrote', async () => {
    await kms.createKey('platform');
    await writeFile(join(directory, 'keyring.json'), JSON.stringify({ format: 'bastion-local-kms/1', keys: { p: { state: 'enabled', material: 'c2hvcnQ=' } } }), { mode: 0o600 });
    await expect(kms.describe('local://p')).rejects.toBeInstanceOf(LocalKeyringError);
    await writeFile(join(directory, 'keyring.json'), JSON.stringify({ format: 'bastion-local-kms/1', keys: { p: { state: 'destroyed', material: randomBytes(32).toString('base64') } } }));
    await expect(kms.describe('local://p')).rejects.toBeInstanceOf(LocalKeyringError);
  });
});
