import { randomBytes } from 'node:crypto';

/** An org's data-encryption key in plaintext: only ever in memory (DESIGN §9), wrapped by the KMS at rest. */
export interface DataKey {
  /** Which of the org's DEKs (they rotate); written into every token it seals. */
  readonly version: number;
  /** 32 bytes, AES-256-GCM. */
  readonly key: Buffer;
}

export const DATA_KEY_BYTES = 32;
export const MAX_DATA_KEY_VERSION = 2 ** 31 - 1;

export function isDataKeyVersion(version: number): boolean {
  return Number.isInteger(version) && version >= 1 && version <= MAX_DATA_KEY_VERSION;
}

export function assertDataKey(dataKey: DataKey): void {
  if (!isDataKeyVersion(dataKey.version)) throw new RangeError(`A DEK version is a whole number from 1 to ${MAX_DATA_KEY_VERSION}.`);
  if (dataKey.key.length !== DATA_KEY_BYTES) throw new RangeError(`A DEK is ${DATA_KEY_BYTES} bytes.`);
}

export function generateDataKey(version: number): DataKey {
  const dataKey = { version, key: randomBytes(DATA_KEY_BYTES) };
  assertDataKey(dataKey);
  return dataKey;
}
