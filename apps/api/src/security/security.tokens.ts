/** DI tokens of the security module (per-org keys). */
export const ORG_KEY_SERVICE = Symbol('OrgKeyService');
export const KMS_ROUTER = Symbol('KmsRouter');
export const ORG_KEYS_RUNTIME = Symbol('OrgKeysRuntime');
