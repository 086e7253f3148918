export * from './fernet-decrypt';
export * from './fernet-encrypt';
export * from './fernet-errors';
export * from './fernet-extract-timestamp';
export * from './fernet-key';
export * from './multi-fernet';
