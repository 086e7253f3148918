import { KeyRefInvalidError, KeyRevokedError, KeyUnavailableError, KmsIntegrityError } from '@bastion/infra/crypto/kms';
import {
  OrgKeyConcurrentChangeError,
  OrgKeyMissingError,
  OrgKeyRevokedError,
  TargetKeyUnusableError,
} from '@bastion/infra/crypto/org-keys';
import { ProblemError, problemType } from '../http/problem';

/**
 * Key failures → RFC 9457 problems, for every route that reads or writes encrypted data (DESIGN §9: reads of
 * revoked data fail closed with a `key-revoked` problem; nothing crashes).
 *
 * `urn:bastion:problem:key-revoked` is **409 Conflict**: the request is allowed, but the data's key is withdrawn —
 * by the org's emergency stop in Bastion or in its own KMS — and the same request succeeds once the key owner
 * restores it. 403 stays "you may not", so a client never mistakes a withdrawn key for a permission it lacks.
 *
 * Returns null for anything that is not a key failure; the caller rethrows it unchanged.
 */
export function keyProblem(error: unknown): ProblemError | null {
  if (error instanceof KeyRevokedError) {
    const byOrg = error instanceof OrgKeyRevokedError;
    return new ProblemError({
      type: problemType('key-revoked'),
      title: "the organisation's encryption key is revoked",
      status: 409,
      detail: byOrg
        ? 'An administrator of the organisation revoked its data key in Bastion; restoring it brings the data back.'
        : "The organisation's key management service refuses the key; re-enabling it (or Bastion's access to it) brings the data back.",
      revokedBy: byOrg ? 'organisation' : 'kms',
    });
  }
  if (error instanceof OrgKeyMissingError) {
    return new ProblemError({ type: problemType('not-found'), title: 'the organisation has no data key', status: 404 });
  }
  if (error instanceof TargetKeyUnusableError) {
    return new ProblemError({
      type: problemType('kms-key-unusable'),
      title: 'the key cannot hold the organisation’s data key; nothing was changed',
      status: 422,
      errors: [{ field: 'keyRef', message: error.reason }],
    });
  }
  if (error instanceof KeyRefInvalidError) return invalidKeyRef(error);
  if (error instanceof OrgKeyConcurrentChangeError) {
    return new ProblemError({ type: problemType('concurrent-modification'), title: 'changed concurrently; retry', status: 409 });
  }
  if (error instanceof KeyUnavailableError) {
    return new ProblemError({
      type: problemType('kms-unavailable'),
      title: 'the key management service is unavailable; try again',
      status: 503,
      retryAfterSeconds: 5,
    });
  }
  if (error instanceof KmsIntegrityError) {
    return new ProblemError({ type: problemType('kms-integrity'), title: 'the key management service answered with bytes that do not verify', status: 502 });
  }
  return null;
}

/** A key reference that is malformed, or names a KMS this deployment lacks: 400, naming the field. */
export function invalidKeyRef(error: KeyRefInvalidError): ProblemError {
  const reason = error.message.replace(/^Invalid key reference .*?: /, '');
  return new ProblemError({
    type: problemType('validation'),
    title: 'the request is not valid',
    status: 400,
    errors: [{ field: 'keyRef', message: reason }],
  });
}

/** Runs `work`, turning key failures into their problems. */
export async function withKeyProblems<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw keyProblem(error) ?? error;
  }
}
