import { KeyRevokedReason } from './kms.port';

/** gRPC status codes (stable across every gRPC implementation), those this adapter tells apart. */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

export type GcpKmsOperation = 'encrypt' | 'decrypt' | 'getCryptoKey';

export type GcpKmsFailure =
  | { readonly kind: 'revoked'; readonly reason: KeyRevokedReason }
  | { readonly kind: 'integrity' }
  | { readonly kind: 'transient' }
  | { readonly kind: 'unavailable' };

export function grpcStatusName(code: number | undefined): string {
  const entry = Object.entries(GrpcStatus).find(([, value]) => value === code);
  return entry ? entry[0] : `status ${String(code)}`;
}

export function grpcStatusOf(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/**
 * What a failed call means for Bastion. Revocations are final until the key owner acts, so they are not retried;
 * transient failures are. INVALID_ARGUMENT means the bytes did not verify (wrong AAD, a foreign or altered
 * ciphertext on decrypt; a checksum that broke in transit on either): sending the same bytes again cannot help.
 */
export function classifyGcpKmsFailure(error: unknown, operation: GcpKmsOperation): GcpKmsFailure {
  const code = grpcStatusOf(error);
  switch (code) {
    case GrpcStatus.FAILED_PRECONDITION:
      return { kind: 'revoked', reason: failedPreconditionReason(error) };
    case GrpcStatus.PERMISSION_DENIED:
      return { kind: 'revoked', reason: 'permission-denied' };
    case GrpcStatus.NOT_FOUND:
      return { kind: 'revoked', reason: 'not-found' };
    case GrpcStatus.UNAVAILABLE:
    case GrpcStatus.RESOURCE_EXHAUSTED:
    case GrpcStatus.DEADLINE_EXCEEDED:
      return { kind: 'transient' };
    case GrpcStatus.INVALID_ARGUMENT:
      return operation === 'getCryptoKey' ? { kind: 'unavailable' } : { kind: 'integrity' };
    default:
      return { kind: 'unavailable' };
  }
}

// Google says which state in the message ("… is not enabled, current state is: DESTROYED."). Only the label of
// the error depends on this parse; the status code alone already decided that the key is revoked.
function failedPreconditionReason(error: unknown): KeyRevokedReason {
  const message = (error as { details?: unknown; message?: unknown } | null) ?? {};
  const text = `${String(message.details ?? '')} ${String(message.message ?? '')}`;
  return /\bDESTROYED\b/.test(text) ? 'destroyed' : 'disabled';
}
