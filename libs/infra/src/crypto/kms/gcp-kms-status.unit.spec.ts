import { assertRetryPolicy, backoffDelayMs, DEFAULT_RETRY_POLICY } from './backoff';
import { classifyGcpKmsFailure, GrpcStatus } from './gcp-kms-status';

const failure = (code: number, details = ''): Error => Object.assign(new Error(`${code} ${details}`), { code, details });

describe('what a Google Cloud KMS failure means', () => {
  it.each([
    ['FAILED_PRECONDITION (disabled version)', failure(GrpcStatus.FAILED_PRECONDITION, 'k/cryptoKeyVersions/1 is not enabled, current state is: DISABLED.'), { kind: 'revoked', reason: 'disabled' }],
    ['FAILED_PRECONDITION (destroyed version)', failure(GrpcStatus.FAILED_PRECONDITION, 'k/cryptoKeyVersions/1 is not enabled, current state is: DESTROYED.'), { kind: 'revoked', reason: 'destroyed' }],
    ['PERMISSION_DENIED', failure(GrpcStatus.PERMISSION_DENIED), { kind: 'revoked', reason: 'permission-denied' }],
    ['NOT_FOUND', failure(GrpcStatus.NOT_FOUND), { kind: 'revoked', reason: 'not-found' }],
    ['UNAVAILABLE', failure(GrpcStatus.UNAVAILABLE), { kind: 'transient' }],
    ['RESOURCE_EXHAUSTED', failure(GrpcStatus.RESOURCE_EXHAUSTED), { kind: 'transient' }],
    ['DEADLINE_EXCEEDED', failure(GrpcStatus.DEADLINE_EXCEEDED), { kind: 'transient' }],
    ['INVALID_ARGUMENT', failure(GrpcStatus.INVALID_ARGUMENT), { kind: 'integrity' }],
    ['INTERNAL', failure(GrpcStatus.INTERNAL), { kind: 'unavailable' }],
    ['UNAUTHENTICATED (our credentials, not the key owner)', failure(GrpcStatus.UNAUTHENTICATED), { kind: 'unavailable' }],
    ['an error without a status', new Error('socket hang up'), { kind: 'unavailable' }],
  ])('on decrypt, %s', (_name, error, expected) => {
    expect(classifyGcpKmsFailure(error, 'decrypt')).toEqual(expected);
  });

  it('INVALID_ARGUMENT on encrypt is an integrity failure too (a request checksum broke in transit)', () => {
    expect(classifyGcpKmsFailure(failure(GrpcStatus.INVALID_ARGUMENT), 'encrypt')).toEqual({ kind: 'integrity' });
  });

  it('INVALID_ARGUMENT when reading a key is not about bytes at all', () => {
    expect(classifyGcpKmsFailure(failure(GrpcStatus.INVALID_ARGUMENT), 'getCryptoKey')).toEqual({ kind: 'unavailable' });
  });
});

describe('backoff', () => {
  const policy = { maxAttempts: 6, initialDelayMs: 100, maxDelayMs: 1_000 };

  it('doubles its ceiling per retry up to the maximum', () => {
    expect([1, 2, 3, 4, 5].map((retry) => backoffDelayMs(retry, policy, () => 0.999999))).toEqual([100, 200, 400, 800, 1000]);
  });

  it('waits between half the ceiling and the ceiling', () => {
    expect(backoffDelayMs(3, policy, () => 0)).toBe(200);
    expect(backoffDelayMs(3, policy, () => 0.5)).toBe(300);
  });

  it('refuses a policy that would never try or never wait sensibly', () => {
    expect(() => assertRetryPolicy({ ...DEFAULT_RETRY_POLICY, maxAttempts: 0 })).toThrow(RangeError);
    expect(() => assertRetryPolicy({ ...DEFAULT_RETRY_POLICY, initialDelayMs: 5_000, maxDelayMs: 100 })).toThrow(RangeError);
    expect(() => assertRetryPolicy(DEFAULT_RETRY_POLICY)).not.toThrow();
  });
});
