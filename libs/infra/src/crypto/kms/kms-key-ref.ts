import { KeyRefInvalidError } from './kms.port';

/**
 * Key references, parsed strictly before any call: a typo should fail at configuration, not as a puzzling
 * PERMISSION_DENIED from Google after three retries.
 */

export interface GcpCryptoKeyRef {
  readonly project: string;
  readonly location: string;
  readonly keyRing: string;
  readonly cryptoKey: string;
  /** Present when the reference pins one version (`…/cryptoKeyVersions/<v>`). */
  readonly cryptoKeyVersion?: string;
  /** `projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>`, without any version. */
  readonly cryptoKeyName: string;
}

// Project ids (6–30 chars), legacy domain-scoped ids (`example.com:my-project`) and project numbers.
const PROJECT = /^(?:(?:[a-z0-9-]+\.)+[a-z]{2,}:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$|^[1-9][0-9]{0,19}$/;
const LOCATION = /^[a-z][a-z0-9-]{0,62}$/;
// Google's rule for key ring and crypto key ids.
const RESOURCE_ID = /^[A-Za-z0-9_-]{1,63}$/;
const VERSION = /^[1-9][0-9]{0,18}$/;

export function parseGcpCryptoKeyRef(keyRef: string): GcpCryptoKeyRef {
  const parts = keyRef.split('/');
  const shapeOk =
    (parts.length === 8 || parts.length === 10) &&
    parts[0] === 'projects' &&
    parts[2] === 'locations' &&
    parts[4] === 'keyRings' &&
    parts[6] === 'cryptoKeys' &&
    (parts.length === 8 || parts[8] === 'cryptoKeyVersions');
  if (!shapeOk) {
    throw new KeyRefInvalidError(
      keyRef,
      'expected projects/<project>/locations/<location>/keyRings/<ring>/cryptoKeys/<key>[/cryptoKeyVersions/<n>]',
    );
  }
  const [, project, , location, , keyRing, , cryptoKey, , cryptoKeyVersion] = parts as [
    string, string, string, string, string, string, string, string, string?, string?,
  ];
  if (!PROJECT.test(project)) throw new KeyRefInvalidError(keyRef, 'invalid project id');
  if (!LOCATION.test(location)) throw new KeyRefInvalidError(keyRef, 'invalid location');
  if (!RESOURCE_ID.test(keyRing)) throw new KeyRefInvalidError(keyRef, 'invalid key ring id');
  if (!RESOURCE_ID.test(cryptoKey)) throw new KeyRefInvalidError(keyRef, 'invalid crypto key id');
  if (cryptoKeyVersion !== undefined && !VERSION.test(cryptoKeyVersion)) {
    throw new KeyRefInvalidError(keyRef, 'invalid crypto key version');
  }
  const cryptoKeyName = `projects/${project}/locations/${location}/keyRings/${keyRing}/cryptoKeys/${cryptoKey}`;
  return cryptoKeyVersion === undefined
    ? { project, location, keyRing, cryptoKey, cryptoKeyName }
    : { project, location, keyRing, cryptoKey, cryptoKeyVersion, cryptoKeyName };
}

/**
 * The reference a DEK is wrapped under: a crypto key, never one version of it. Wrapping always uses the primary
 * version so that rotation in Google takes effect without touching Bastion, and a stored reference pinned to a
 * version would also be refused by Decrypt, which only accepts crypto key names.
 */
export function parseGcpWrappingKeyRef(keyRef: string): GcpCryptoKeyRef {
  const ref = parseGcpCryptoKeyRef(keyRef);
  if (ref.cryptoKeyVersion !== undefined) {
    throw new KeyRefInvalidError(keyRef, 'name the crypto key, not a version: wrapping always uses the primary version');
  }
  return ref;
}

export const LOCAL_KEY_REF_PREFIX = 'local://';
// Lowercase, so names cannot differ only by case on a case-insensitive file system or in a reviewer's eyes.
const LOCAL_KEY_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export function isValidLocalKeyName(name: string): boolean {
  return LOCAL_KEY_NAME.test(name);
}

/** `local://<name>` → `<name>`. */
export function parseLocalKeyRef(keyRef: string): string {
  if (!keyRef.startsWith(LOCAL_KEY_REF_PREFIX)) throw new KeyRefInvalidError(keyRef, `expected ${LOCAL_KEY_REF_PREFIX}<name>`);
  const name = keyRef.slice(LOCAL_KEY_REF_PREFIX.length);
  if (!isValidLocalKeyName(name)) {
    throw new KeyRefInvalidError(keyRef, 'a local key name is 1–63 of a-z, 0-9, "_" and "-", starting with a letter or digit');
  }
  return name;
}

export function localKeyRef(name: string): string {
  if (!isValidLocalKeyName(name)) throw new KeyRefInvalidError(`${LOCAL_KEY_REF_PREFIX}${name}`, 'invalid local key name');
  return `${LOCAL_KEY_REF_PREFIX}${name}`;
}
