/** DI tokens of the API's infrastructure. */
export const APP_POOL = Symbol('AppPool');
export const REDIS = Symbol('Redis');
export const LOGGER = Symbol('Logger');
export const SERVER_SECRETS = Symbol('ServerSecrets');
export const MAILER_TOKEN = Symbol('Mailer');
