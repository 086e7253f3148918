import { constants, createHash, createHmac, randomUUID, sign, type KeyObject } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { epochSeconds } from '../token-policy';

/** Test fixtures for the token service: fixed instants, and JWS built by hand where no library would build them. */

export const ISSUER = 'https://bastion.test';
export const AUDIENCE = 'bastion-api';
export const T0 = new Date('2030-01-01T00:00:00.000Z');

export const at = (seconds: number, from: Date = T0): Date => new Date(from.getTime() + seconds * 1000);

/** A clock tests move by hand. */
export class TestClock {
  constructor(private current: Date = T0) {}
  readonly now = (): Date => this.current;
  set(instant: Date): void {
    this.current = instant;
  }
}

const b64url = (value: string | Buffer): string => Buffer.from(value).toString('base64url');

export type Signer = (signingInput: string) => Buffer;

export const rs256 = (key: KeyObject): Signer => (input) => sign('sha256', Buffer.from(input), key);
export const rs512 = (key: KeyObject): Signer => (input) => sign('sha512', Buffer.from(input), key);
export const ps256 = (key: KeyObject): Signer => (input) =>
  sign('sha256', Buffer.from(input), { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
export const hs256 = (secret: string | Buffer): Signer => (input) => createHmac('sha256', secret).update(input).digest();
export const noSignature: Signer = () => Buffer.alloc(0);

/** A compact JWS of exactly this header and payload (members set to `undefined` are left out). */
export function forgeJws(header: Record<string, unknown>, payload: Record<string, unknown>, signer: Signer): string {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  return `${input}.${b64url(signer(input))}`;
}

/** The claims of a valid human access token issued at `now`. */
export function accessTokenPayload(now: Date, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const iat = epochSeconds(now);
  return {
    iss: ISSUER,
    aud: AUDIENCE,
    sub: randomUUID(),
    sub_type: 'human',
    sid: randomUUID(),
    amr: ['pwd'],
    jti: randomUUID(),
    iat,
    exp: iat + 600,
    ...overrides,
  };
}

export function decodeSegment(token: string, index: 0 | 1): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[index]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

/** RFC 7638 §3: SHA-256 over the required members in lexicographic order, no whitespace — written out by hand. */
export function rfc7638Thumbprint({ e, n }: { e: string; n: string }): string {
  return createHash('sha256').update(`{"e":"${e}","kty":"RSA","n":"${n}"}`).digest('base64url');
}

export async function withTemporaryDirectory<T>(use: (path: string) => Promise<T>): Promise<T> {
  const path = await mkdtemp(join(tmpdir(), 'bastion-keys-'));
  try {
    return await use(path);
  } finally {
    await rm(path, { recursive: true, force: true });
  }
}

/** The error `promise` rejects with; fails the test if it resolves. */
export async function failureOf<E extends Error = Error>(promise: Promise<unknown>): Promise<E> {
  try {
    await promise;
  } catch (error) {
    return error as E;
  }
  throw new Error('expected a failure, but the promise resolved');
}
