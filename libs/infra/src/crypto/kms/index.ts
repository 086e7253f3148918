// The test server (./testing) is deliberately not exported: production code has no business starting it.
export { DEFAULT_RETRY_POLICY, type RetryPolicy } from './backoff';
export { crc32c } from './crc32c';
export * from './gcp-kms.adapter';
export * from './kms-key-ref';
export * from './kms.port';
export * from './local-kms.adapter';
