import { NoSigningKeysError } from './jwt-errors';
import { KeyDirectory } from './key-directory';
import { activeSigningKey, type SigningKey } from './signing-keys';
import { SIGNING_KEYS_ENV, signingKeysFromEnv } from './signing-keys-from-env';

export interface LoadSigningKeysOptions {
  now: Date;
  env?: NodeJS.ProcessEnv;
  directory?: KeyDirectory;
}

/**
 * The key set a process starts with: `JWT_SIGNING_KEYS` when set; otherwise the key directory, which outside
 * production gets a first key generated into it. Production never generates a key, because each replica would
 * sign with a key the others do not know. Fails at start-up, not at the first sign-in, when no key can sign.
 */
export async function loadSigningKeys({ now, env = process.env, directory }: LoadSigningKeysOptions): Promise<SigningKey[]> {
  const fromEnv = await signingKeysFromEnv(env);
  if (fromEnv) {
    activeSigningKey(fromEnv, now);
    return fromEnv;
  }
  const keys = directory ?? new KeyDirectory();
  const loaded = env.NODE_ENV === 'production' ? await keys.load() : await keys.loadOrGenerate(now);
  if (loaded.length === 0) {
    throw new NoSigningKeysError(`No signing keys: set ${SIGNING_KEYS_ENV} or put key files in ${keys.path} (production never generates one).`);
  }
  activeSigningKey(loaded, now);
  return loaded;
}
