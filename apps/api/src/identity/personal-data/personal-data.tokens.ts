export const PERSON_KEYS = Symbol('PersonKeyService');
export const PERSON_KEYS_RUNTIME = Symbol('PersonKeysRuntime');
