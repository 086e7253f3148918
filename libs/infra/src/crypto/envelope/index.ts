export * from './data-key';
export * from './data-key-cache';
export * from './decrypt-field';
export * from './encrypt-field';
export * from './envelope-errors';
export * from './field-aad';
export { fieldTokenKeyVersion, parseFieldToken, type ParsedFieldToken } from './field-token';
