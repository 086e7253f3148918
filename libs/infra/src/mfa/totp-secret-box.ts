import { FernetKey, generateFernetKey, MultiFernet } from '../crypto/fernet';
import { StartupError } from '../runtime/startup-error';
import { readOrCreateSecretFile } from '../crypto/secret-file';

/**
 * TOTP secrets at rest: a Fernet token of `{"u": <user id>, "s": <base32 secret>}`. Fernet has no associated data,
 * so the user id rides inside the plaintext and is checked on every decryption: a token copied to another user's
 * row does not open for them. Keys: `FERNET_KEYS` (comma-separated; the first encrypts, all decrypt), or in
 * development a key generated once into a 0600 file.
 */
export class TotpSecretBox {
  constructor(private readonly fernet: MultiFernet) {}

  seal(userId: string, secret: string): string {
    return this.fernet.encrypt(JSON.stringify({ u: userId, s: secret }));
  }

  /** The secret, or null when the token is not this user's (or not ours). */
  open(userId: string, token: string): string | null {
    try {
      const plain = JSON.parse(this.fernet.decrypt(token).toString('utf8')) as { u?: unknown; s?: unknown };
      return plain.u === userId && typeof plain.s === 'string' ? plain.s : null;
    } catch {
      return null;
    }
  }

  /** The token re-encrypted under the first key (its timestamp kept), or null when no key opens it. */
  rotate(token: string): string | null {
    try {
      return this.fernet.rotate(token);
    } catch {
      return null;
    }
  }
}

export function loadFernetKeys(env: { NODE_ENV: string; FERNET_KEYS?: string }, devFile: string): MultiFernet {
  let encoded = env.FERNET_KEYS;
  if (!encoded) {
    if (env.NODE_ENV === 'production') throw new StartupError('FERNET_KEYS is required in production (one or more Fernet keys, comma-separated).');
    encoded = readOrCreateSecretFile(devFile, generateFernetKey);
  }
  try {
    return new MultiFernet(encoded.split(',').map((k) => FernetKey.parse(k.trim())));
  } catch {
    throw new StartupError('FERNET_KEYS must list 32-byte URL-safe base64 Fernet keys, comma-separated.');
  }
}
