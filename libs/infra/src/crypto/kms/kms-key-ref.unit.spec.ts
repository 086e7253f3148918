import { localKeyRef, parseGcpCryptoKeyRef, parseGcpWrappingKeyRef, parseLocalKeyRef } from './kms-key-ref';
import { KeyRefInvalidError } from './kms.port';

const KEY = 'projects/bastion-prod/locations/europe-west1/keyRings/tenants/cryptoKeys/org_42-dek';

describe('Google Cloud KMS key references', () => {
  it('parses a crypto key name into its parts', () => {
    expect(parseGcpCryptoKeyRef(KEY)).toEqual({
      project: 'bastion-prod',
      location: 'europe-west1',
      keyRing: 'tenants',
      cryptoKey: 'org_42-dek',
      cryptoKeyName: KEY,
    });
  });

  it('parses a version name, keeping the crypto key name apart', () => {
    expect(parseGcpCryptoKeyRef(`${KEY}/cryptoKeyVersions/3`)).toMatchObject({ cryptoKeyVersion: '3', cryptoKeyName: KEY });
  });

  it('accepts project numbers, domain-scoped projects and multi-region locations', () => {
    expect(parseGcpCryptoKeyRef('projects/123456789012/locations/global/keyRings/r/cryptoKeys/k').project).toBe('123456789012');
    expect(parseGcpCryptoKeyRef('projects/example.com:bastion/locations/nam-eur-asia1/keyRings/r/cryptoKeys/k').location).toBe(
      'nam-eur-asia1',
    );
  });

  it('should not wrap under a pinned version: wrapping always uses the primary', () => {
    expect(() => parseGcpWrappingKeyRef(`${KEY}/cryptoKeyVersions/3`)).toThrow(KeyRefInvalidError);
    expect(parseGcpWrappingKeyRef(KEY).cryptoKeyName).toBe(KEY);
  });

  it.each([
    ['empty', ''],
    ['a key ring', 'projects/p-123456/locations/global/keyRings/r'],
    ['a trailing slash', `${KEY}/`],
    ['a leading slash', `/${KEY}`],
    ['a misspelt collection', 'projects/bastion-prod/locations/global/keyrings/r/cryptoKeys/k'],
    ['an upper-case project', 'projects/Bastion-prod/locations/global/keyRings/r/cryptoKeys/k'],
    ['a short project id', 'projects/abc/locations/global/keyRings/r/cryptoKeys/k'],
    ['a dot in the key id', 'projects/bastion-prod/locations/global/keyRings/r/cryptoKeys/a.b'],
    ['a 64-character key id', `projects/bastion-prod/locations/global/keyRings/r/cryptoKeys/${'k'.repeat(64)}`],
    ['version 0', `${KEY}/cryptoKeyVersions/0`],
    ['a named version', `${KEY}/cryptoKeyVersions/latest`],
    ['a URL', `https://cloudkms.googleapis.com/v1/${KEY}`],
    ['a local reference', 'local://dev'],
  ])('refuses %s', (_case, ref) => {
    const error = (() => {
      try {
        parseGcpCryptoKeyRef(ref);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(KeyRefInvalidError);
    expect(error).toMatchObject({ code: 'KMS.KEY_REF_INVALID', keyRef: ref });
  });
});

describe('local key references', () => {
  it('round-trips a name', () => {
    expect(parseLocalKeyRef(localKeyRef('platform'))).toBe('platform');
    expect(localKeyRef('org_1-dev')).toBe('local://org_1-dev');
  });

  it.each(['local://', 'local://Upper', 'local://../x', 'local://a/b', 'file://x', KEY, `local://${'a'.repeat(64)}`, 'local://-x'])(
    'refuses %s',
    (ref) => {
      expect(() => parseLocalKeyRef(ref)).toThrow(KeyRefInvalidError);
    },
  );
});
