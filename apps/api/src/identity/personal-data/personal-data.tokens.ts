export const PERSON_KEYS = Symbol('PersonKeyService');
