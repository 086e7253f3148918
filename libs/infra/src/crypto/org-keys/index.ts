export * from './kms-router';
export * from './org-key-errors';
export * from './org-key-evictions';
export * from './org-key-service';
export * from './org-key.events';
export * from './org-key.repository';
