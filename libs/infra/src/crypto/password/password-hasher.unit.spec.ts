import { Algorithm, hash as argon2Hash, hashRaw, Version } from '@node-rs/argon2';
import { performance } from 'node:perf_hooks';
import { DUMMY_HASH, PASSWORD_HASH_PARAMETERS, PasswordHasher, parseArgon2Phc } from './password-hasher';

const hasher = new PasswordHasher();
const PASSWORD = 'correct horse battery staple';

describe('PasswordHasher', () => {
  it('verifies a password against its own hash', async () => {
    const hash = await hasher.hash(PASSWORD);
    await expect(hasher.verify(hash, PASSWORD)).resolves.toBe(true);
  });

  it('refuses a wrong password', async () => {
    const hash = await hasher.hash(PASSWORD);
    await expect(hasher.verify(hash, 'correct horse battery stapler')).resolves.toBe(false);
    await expect(hasher.verify(hash, '')).resolves.toBe(false);
  });

  it('writes argon2id v=19 with exactly m=19456,t=2,p=1, a 16-byte salt and a 32-byte output', async () => {
    const hash = await hasher.hash(PASSWORD);
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(hasher.needsRehash(hash)).toBe(false);
  });

  it('salts every hash', async () => {
    const [a, b] = await Promise.all([hasher.hash(PASSWORD), hasher.hash(PASSWORD)]);
    expect(a).not.toBe(b);
  });

  it('verifies a hash made with other parameters, and asks for a re-hash', async () => {
    const old = await argon2Hash(PASSWORD, { algorithm: Algorithm.Argon2id, memoryCost: 4096, timeCost: 3, parallelism: 1 });
    expect(old).toContain('$m=4096,t=3,p=1$');
    await expect(hasher.verify(old, PASSWORD)).resolves.toBe(true);
    expect(hasher.needsRehash(old)).toBe(true);
  });

  it('asks for a re-hash when only the algorithm differs', async () => {
    const argon2i = await argon2Hash(PASSWORD, { ...PASSWORD_HASH_PARAMETERS, algorithm: Algorithm.Argon2i });
    expect(argon2i).toMatch(/^\$argon2i\$v=19\$m=19456,t=2,p=1\$/);
    await expect(hasher.verify(argon2i, PASSWORD)).resolves.toBe(true);
    expect(hasher.needsRehash(argon2i)).toBe(true);
  });

  it('asks for a re-hash when the output length differs', async () => {
    const short = await argon2Hash(PASSWORD, { ...PASSWORD_HASH_PARAMETERS, algorithm: Algorithm.Argon2id, outputLen: 16 });
    expect(hasher.needsRehash(short)).toBe(true);
  });

  it.each([
    ['an empty string', ''],
    ['plain text', 'not a hash'],
    ['a bcrypt hash', '$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy'],
    ['a PHC string without its hash', '$argon2id$v=19$m=19456,t=2,p=1$ZDrFIR3smNO86fbNd6AMyw'],
    ['a truncated hash', DUMMY_HASH.slice(0, -10)],
    ['a hash with a character that is not base64', DUMMY_HASH.slice(0, -1) + '!'],
    ['an unknown algorithm', DUMMY_HASH.replace('argon2id', 'argon2x')],
    ['parameters the library refuses', '$argon2id$v=19$m=0,t=0,p=0$ZDrFIR3smNO86fbNd6AMyw$FH4y3mQQN/XVDm3fb3Oinc9sb6pquTUb/fF8lsmj5m4'],
  ])('answers false, without throwing, for %s', async (_what, malformed) => {
    await expect(hasher.verify(malformed, PASSWORD)).resolves.toBe(false);
    expect(hasher.needsRehash(malformed)).toBe(true);
  });

  it('normalises to NFC, so a decomposed accent verifies against the composed one', async () => {
    const hash = await hasher.hash('Am\u00e9lie-walnut-orchard');
    await expect(hasher.verify(hash, 'Ame\u0301lie-walnut-orchard')).resolves.toBe(true);
  });

  it('keeps the dummy hash on the parameters in force', () => {
    expect(hasher.needsRehash(DUMMY_HASH)).toBe(false);
  });

  it('spends about the time of a real verification in dummyVerify', async () => {
    const hash = await hasher.hash(PASSWORD);
    const time = async (run: () => Promise<unknown>) => {
      const start = performance.now();
      await run();
      return performance.now() - start;
    };
    const real: number[] = [];
    const dummy: number[] = [];
    await hasher.dummyVerify(); // warm up
    // Interleaved, so load from other test workers falls on both series alike.
    for (let i = 0; i < 11; i++) {
      real.push(await time(() => hasher.verify(hash, 'a wrong password')));
      dummy.push(await time(() => hasher.dummyVerify()));
    }
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1]!;
    expect(median(dummy) / median(real)).toBeGreaterThan(0.5);
    expect(median(dummy) / median(real)).toBeLessThan(2);
  });
});

describe('parseArgon2Phc', () => {
  it('reads the parameters of a PHC string', () => {
    expect(parseArgon2Phc(DUMMY_HASH)).toEqual({
      algorithm: 'argon2id',
      version: 19,
      memoryCost: 19456,
      timeCost: 2,
      parallelism: 1,
      saltLength: 16,
      outputLength: 32,
    });
  });

  it('takes a string without v= for Argon2 1.0 (version 16)', () => {
    expect(parseArgon2Phc('$argon2i$m=65536,t=2,p=1$c29tZXNhbHQ$9sTbSlTio3Biev89thdrlKKiCaYsjjYVJxGAL3swxpQ')?.version).toBe(16);
  });
});

/**
 * Known answers of the Argon2 reference implementation (P-H-C/phc-winner-argon2, src/test.c, Argon2id v=0x13,
 * password "password", salt "somesalt", 32-byte output). RFC 9106 §5.3's vector cannot be run here: it needs
 * associated data, which @node-rs/argon2 does not expose.
 */
describe('Argon2id known answers (reference implementation)', () => {
  const salt = Buffer.from('somesalt');
  const vectors = [
    {
      m: 256,
      t: 2,
      p: 1,
      hex: '9dfeb910e80bad0311fee20f9c0e2b12c17987b4cac90c2ef54d5b3021c68bfe',
      phc: '$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4',
    },
    {
      m: 256,
      t: 2,
      p: 2,
      hex: '6d093c501fd5999645e0ea3bf620d7b8be7fd2db59c20d9fff9539da2bf57037',
      phc: '$argon2id$v=19$m=256,t=2,p=2$c29tZXNhbHQ$bQk8UB/VmZZF4Oo79iDXuL5/0ttZwg2f/5U52iv1cDc',
    },
    {
      m: 65536,
      t: 2,
      p: 1,
      hex: '09316115d5cf24ed5a15a31a3ba326e5cf32edc24702987c02b6566f61913cf7',
      phc: '$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc',
    },
  ];

  it.each(vectors)('derives the reference tag for m=$m,t=$t,p=$p', async ({ m, t, p, hex, phc }) => {
    const options = { algorithm: Algorithm.Argon2id, version: Version.V0x13, memoryCost: m, timeCost: t, parallelism: p, outputLen: 32, salt };
    expect((await hashRaw('password', options)).toString('hex')).toBe(hex);
    expect(await argon2Hash('password', options)).toBe(phc);
    await expect(hasher.verify(phc, 'password')).resolves.toBe(true);
    expect(hasher.needsRehash(phc)).toBe(true);
  });

  it('reads the binding\'s const enums at run time too (swc compiles them to property reads, not inlined values)', () => {
    expect([Algorithm.Argon2d, Algorithm.Argon2i, Algorithm.Argon2id, Version.V0x13]).toEqual([0, 1, 2, 1]);
  });

  it('honours the algorithm option: Argon2d gives another tag for the same inputs', async () => {
    const argon2d = await hashRaw('password', { algorithm: Algorithm.Argon2d, memoryCost: 256, timeCost: 2, parallelism: 1, salt });
    expect(argon2d.toString('hex')).not.toBe(vectors[0]!.hex);
  });
});
