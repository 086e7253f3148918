import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { AuditKeyUnusableError } from './audit-errors';
import type { AuditJwks, AuditKey, AuditPublicJwk } from './audit-keys';
import { canonicalJsonBytes } from './canonical-json';
import { isHead, orgOfChain, type ChainId, type ChainState } from './hash-chain';

/**
 * A checkpoint says "chain C held `count` events up to `position`, with head `head`", signed with an audit key.
 * The signing input is the RFC 8785 form of exactly the six members below (never `signature`, never any other
 * member a carrier adds, such as an export line's `kind`); the signature is Ed25519 (RFC 8032) over those bytes,
 * base64url without padding.
 *
 * An org admin who keeps a checkpoint outside Bastion can later prove that the chain still passes through it, which
 * is what makes a rewrite by someone who holds the database evident.
 */

export interface CheckpointStatement {
  readonly chain: ChainId;
  /** Position of the last event covered; null only for a chain of no events. */
  readonly position: string | null;
  readonly count: number;
  readonly head: string;
  /** ISO-8601 UTC with milliseconds, as Date#toISOString writes it. */
  readonly issuedAt: string;
}

export interface Checkpoint extends CheckpointStatement {
  readonly keyId: string;
}

export interface SignedCheckpoint extends Checkpoint {
  /** Ed25519 over {@link checkpointSigningInput}, base64url. */
  readonly signature: string;
}

/** Signs statements; a key file, or a KMS behind the same shape. */
export type CheckpointSigner = (statement: CheckpointStatement) => SignedCheckpoint | Promise<SignedCheckpoint>;

export function checkpointOf(state: ChainState, issuedAt: Date): CheckpointStatement {
  return { chain: state.chain, position: state.lastPosition, count: state.count, head: state.head, issuedAt: issuedAt.toISOString() };
}

/** The bytes a checkpoint's signature covers. */
export function checkpointSigningInput(checkpoint: Checkpoint): Buffer {
  const { chain, position, count, head, issuedAt, keyId } = checkpoint;
  return canonicalJsonBytes({ chain, position, count, head, issuedAt, keyId });
}

export function signCheckpoint(statement: CheckpointStatement, key: AuditKey): SignedCheckpoint {
  if (!key.privateKey) throw new AuditKeyUnusableError(`audit key ${key.kid} has no private half here`);
  const issuedAt = new Date(statement.issuedAt);
  if (key.retiredAt !== undefined && key.retiredAt.getTime() <= issuedAt.getTime()) {
    throw new AuditKeyUnusableError(`audit key ${key.kid} was retired at ${key.retiredAt.toISOString()}`);
  }
  const problem = statementProblem(statement);
  if (problem !== undefined) throw new TypeError(`not a checkpoint: ${problem}`);
  const checkpoint: Checkpoint = { ...pickStatement(statement), keyId: key.kid };
  return { ...checkpoint, signature: sign(null, checkpointSigningInput(checkpoint), key.privateKey).toString('base64url') };
}

export function checkpointSigner(key: AuditKey): CheckpointSigner {
  return (statement) => signCheckpoint(statement, key);
}

export type CheckpointVerification =
  | { readonly ok: true; readonly key: AuditPublicJwk }
  | { readonly ok: false; readonly reason: 'unknown-key' | 'bad-signature'; readonly detail: string };

/**
 * Whether `checkpoint` was signed by a key of `jwks`. A retired key still verifies what it signed while it is
 * published; a `kid` the set does not hold fails, and so does a key of another type under a known `kid`.
 */
export function verifyCheckpoint(checkpoint: SignedCheckpoint, jwks: AuditJwks): CheckpointVerification {
  const jwk = jwks.keys.find((key) => key.kid === checkpoint.keyId);
  if (!jwk) return { ok: false, reason: 'unknown-key', detail: `no published audit key has kid ${JSON.stringify(checkpoint.keyId)}` };
  let publicKey: KeyObject;
  try {
    if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || (jwk.alg !== undefined && jwk.alg !== 'EdDSA')) throw new TypeError();
    publicKey = createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x }, format: 'jwk' });
  } catch {
    return { ok: false, reason: 'unknown-key', detail: `the published key ${checkpoint.keyId} is not an Ed25519 key` };
  }
  const signature = typeof checkpoint.signature === 'string' && SIGNATURE.test(checkpoint.signature) ? Buffer.from(checkpoint.signature, 'base64url') : undefined;
  if (!signature) return { ok: false, reason: 'bad-signature', detail: 'the signature is not 64 bytes of base64url' };
  if (!verify(null, checkpointSigningInput(checkpoint), publicKey, signature)) {
    return { ok: false, reason: 'bad-signature', detail: `the signature does not verify with key ${checkpoint.keyId}` };
  }
  return { ok: true, key: jwk };
}

// 64 bytes in unpadded base64url: 85 full characters and one that carries 2 bits (A, Q, g or w).
const SIGNATURE = /^[A-Za-z0-9_-]{85}[AQgw]$/;
const ISSUED_AT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const DECIMAL = /^(0|[1-9][0-9]{0,19})$/;
const KID = /^[A-Za-z0-9_-]{1,128}$/;

/** Reads a signed checkpoint from untrusted JSON; a string is the reason it is not one. */
export function parseSignedCheckpoint(value: unknown): SignedCheckpoint | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'is not an object';
  const record = value as Record<string, unknown>;
  const problem = statementProblem(record);
  if (problem !== undefined) return problem;
  if (typeof record.keyId !== 'string' || !KID.test(record.keyId)) return '"keyId" is not a key id';
  if (typeof record.signature !== 'string') return '"signature" is not a string';
  return { ...pickStatement(record as unknown as CheckpointStatement), keyId: record.keyId, signature: record.signature };
}

function statementProblem(value: Readonly<Record<string, unknown>> | CheckpointStatement): string | undefined {
  const { chain, position, count, head, issuedAt } = value as Record<string, unknown>;
  if (typeof chain !== 'string' || orgOfChain(chain) === undefined) return '"chain" is not a chain id';
  if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) return '"count" is not a non-negative integer';
  if (count === 0 ? position !== null : typeof position !== 'string' || !DECIMAL.test(position)) {
    return '"position" is not a decimal position (null exactly when "count" is 0)';
  }
  if (!isHead(head)) return '"head" is not 64 lower-case hex digits';
  const instant = typeof issuedAt === 'string' && ISSUED_AT.test(issuedAt) ? Date.parse(issuedAt) : Number.NaN;
  if (Number.isNaN(instant) || new Date(instant).toISOString() !== issuedAt) {
    return '"issuedAt" is not an ISO-8601 UTC instant with milliseconds';
  }
  return undefined;
}

function pickStatement({ chain, position, count, head, issuedAt }: CheckpointStatement): CheckpointStatement {
  return { chain, position, count, head, issuedAt };
}
