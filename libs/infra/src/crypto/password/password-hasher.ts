import { Algorithm, hash as argon2Hash, verify as argon2Verify, Version } from '@node-rs/argon2';

/** Argon2id parameters in force (DESIGN §5; OWASP's second configuration): 19 MiB, two passes, one lane. */
export const PASSWORD_HASH_PARAMETERS = {
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
  outputLen: 32,
} as const;

const PHC_VERSION_0X13 = 19;

/**
 * A hash of a throwaway password (not kept anywhere) with the parameters in force. Exported for its test, which
 * checks that it still matches them, so a parameter change cannot leave unknown-email sign-ins measurably faster.
 */
export const DUMMY_HASH = '$argon2id$v=19$m=19456,t=2,p=1$ZDrFIR3smNO86fbNd6AMyw$FH4y3mQQN/XVDm3fb3Oinc9sb6pquTUb/fF8lsmj5m4';
const DUMMY_PASSWORD = 'not-the-password-of-anyone';

export interface Argon2Phc {
  readonly algorithm: 'argon2id' | 'argon2i' | 'argon2d';
  /** 16 (0x10) when the string carries no `v=`, as hashes of Argon2 1.0 did. */
  readonly version: number;
  readonly memoryCost: number;
  readonly timeCost: number;
  readonly parallelism: number;
  readonly saltLength: number;
  readonly outputLength: number;
}

const PHC = /^\$(argon2id|argon2i|argon2d)\$(?:v=(\d{1,3})\$)?m=(\d{1,10}),t=(\d{1,10}),p=(\d{1,3})(?:,[^$]*)?\$([A-Za-z0-9+/]{11,})\$([A-Za-z0-9+/]{6,})$/;

/** Parses a PHC string such as `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`; null when it is not one. */
export function parseArgon2Phc(encoded: string): Argon2Phc | null {
  const match = PHC.exec(encoded);
  if (!match) return null;
  const [, algorithm, version, m, t, p, salt, output] = match;
  return {
    algorithm: algorithm as Argon2Phc['algorithm'],
    version: version === undefined ? 16 : Number(version),
    memoryCost: Number(m),
    timeCost: Number(t),
    parallelism: Number(p),
    saltLength: base64Bytes(salt!),
    outputLength: base64Bytes(output!),
  };
}

function base64Bytes(unpadded: string): number {
  return Math.floor((unpadded.length * 3) / 4);
}

/**
 * Password hashing for human sign-in. Passwords are NFC-normalised before hashing and verifying, as the password
 * policy counts them, so the same password typed on systems that compose accents differently still verifies.
 */
export class PasswordHasher {
  async hash(password: string): Promise<string> {
    return argon2Hash(password.normalize('NFC'), {
      algorithm: Algorithm.Argon2id,
      version: Version.V0x13,
      ...PASSWORD_HASH_PARAMETERS,
    });
  }

  /** False for a wrong password and for anything that is not a hash the library can read; never throws. */
  async verify(hash: string, password: string): Promise<boolean> {
    if (parseArgon2Phc(hash) === null) return false;
    try {
      return await argon2Verify(hash, password.normalize('NFC'));
    } catch {
      return false;
    }
  }

  /** True when the hash was made with another algorithm, version or cost than those in force (re-hash at sign-in). */
  needsRehash(hash: string): boolean {
    const phc = parseArgon2Phc(hash);
    return (
      phc === null ||
      phc.algorithm !== 'argon2id' ||
      phc.version !== PHC_VERSION_0X13 ||
      phc.memoryCost !== PASSWORD_HASH_PARAMETERS.memoryCost ||
      phc.timeCost !== PASSWORD_HASH_PARAMETERS.timeCost ||
      phc.parallelism !== PASSWORD_HASH_PARAMETERS.parallelism ||
      phc.outputLength !== PASSWORD_HASH_PARAMETERS.outputLen
    );
  }

  /**
   * Spends the time of a real verification, so that a sign-in for an unknown email is not told apart from a wrong
   * password by how long it takes.
   */
  async dummyVerify(): Promise<void> {
    await this.verify(DUMMY_HASH, DUMMY_PASSWORD);
  }
}
