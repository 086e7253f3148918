import { randomBytes } from 'node:crypto';
import { fernetDecrypt } from './fernet-decrypt';
import { fernetEncrypt } from './fernet-encrypt';
import { fernetExtractTimestamp } from './fernet-extract-timestamp';
import { FernetKey, generateFernetKey } from './fernet-key';
import { MultiFernet } from './multi-fernet';
import { ok, PythonFernet, pythonFernetUnavailable } from './testing/python-fernet';

const unavailable = pythonFernetUnavailable();
if (unavailable !== null) console.warn(`Skipping the Fernet interop tests with Python: ${unavailable}.`);
const describeWithPython = unavailable === null ? describe : describe.skip;

/** 2030-03-17T17:46:40Z, in the whole seconds Fernet stamps. */
const T = 1_900_000_000;
const clockAt = (seconds: number): (() => Date) => () => new Date(seconds * 1000);
const b64 = (bytes: Uint8Array | string): string => Buffer.from(bytes).toString('base64');

const PLAINTEXTS: readonly (string | Buffer)[] = [
  'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP|0190b7d3-1c2a-7b4e-8f00-123456789abc',
  '',
  'sixteen bytes!!!',
  'ünïcødé ✓ 🔐',
  randomBytes(257),
];

describeWithPython(`Fernet interop with Python's cryptography.fernet${unavailable === null ? '' : ` (skipped: ${unavailable})`}`, () => {
  let python: PythonFernet;
  beforeAll(() => {
    python = new PythonFernet();
  });
  afterAll(async () => {
    await python.close();
  });
  const runPythonFernet = (operations: Parameters<PythonFernet['run']>[0]) => python.run(operations);

  it('Python decrypts what Bastion encrypts, with the same timestamp and ttl boundaries', async () => {
    const encoded = generateFernetKey();
    const key = FernetKey.parse(encoded);
    const tokens = PLAINTEXTS.map((plaintext) => fernetEncrypt(key, plaintext, { clock: clockAt(T) }));
    const answers = await runPythonFernet([
      ...tokens.map((token) => ({ op: 'decrypt' as const, key: encoded, token })),
      { op: 'extract_timestamp', key: encoded, token: tokens[0]! },
      { op: 'decrypt_at_time', key: encoded, token: tokens[0]!, ttl: 60, time: T + 60 },
      { op: 'decrypt_at_time', key: encoded, token: tokens[0]!, ttl: 60, time: T + 61 },
      { op: 'decrypt_at_time', key: encoded, token: tokens[0]!, ttl: 60, time: T - 60 },
      { op: 'decrypt_at_time', key: encoded, token: tokens[0]!, ttl: 60, time: T - 61 },
      { op: 'decrypt', key: generateFernetKey(), token: tokens[0]! },
    ]);
    PLAINTEXTS.forEach((plaintext, index) => expect(ok(answers[index])).toBe(b64(plaintext)));
    const [timestamp, atTtl, pastTtl, atSkew, pastSkew, otherKey] = answers.slice(PLAINTEXTS.length);
    expect(ok(timestamp)).toBe(String(T));
    expect(ok(atTtl)).toBe(b64(PLAINTEXTS[0]!));
    expect(pastTtl).toEqual({ invalid: true });
    expect(ok(atSkew)).toBe(b64(PLAINTEXTS[0]!));
    expect(pastSkew).toEqual({ invalid: true });
    expect(otherKey).toEqual({ invalid: true });
  });

  it('Bastion decrypts what Python encrypts, with a key Python generated, and agrees on the ttl boundaries', async () => {
    const [generated] = await runPythonFernet([{ op: 'generate_key' }]);
    const encoded = ok(generated);
    const key = FernetKey.parse(encoded);
    expect(key.exportSecret()).toBe(encoded);
    const answers = await runPythonFernet(PLAINTEXTS.map((plaintext) => ({ op: 'encrypt_at_time', key: encoded, data: b64(plaintext), time: T })));
    const tokens = answers.map(ok);

    tokens.forEach((token, index) => expect(fernetDecrypt(key, token)).toEqual(Buffer.from(PLAINTEXTS[index]!)));
    expect(fernetExtractTimestamp(key, tokens[0]!)).toEqual(clockAt(T)());
    expect(() => fernetDecrypt(key, tokens[0]!, { ttlSeconds: 60, clock: clockAt(T + 60) })).not.toThrow();
    expect(() => fernetDecrypt(key, tokens[0]!, { ttlSeconds: 60, clock: clockAt(T + 61) })).toThrow(
      expect.objectContaining({ code: 'FERNET.TOKEN_EXPIRED' }),
    );
    expect(() => fernetDecrypt(key, tokens[0]!, { ttlSeconds: 60, clock: clockAt(T - 60) })).not.toThrow();
    expect(() => fernetDecrypt(key, tokens[0]!, { ttlSeconds: 60, clock: clockAt(T - 61) })).toThrow(
      expect.objectContaining({ code: 'FERNET.TOKEN_FROM_FUTURE' }),
    );
    expect(() => fernetDecrypt(FernetKey.generate(), tokens[0]!)).toThrow(expect.objectContaining({ code: 'FERNET.INVALID_TOKEN' }));
  });

  it("Python's MultiFernet.rotate of a Bastion token keeps its timestamp, and Bastion reads it with the new key only", async () => {
    const [older, newer] = [generateFernetKey(), generateFernetKey()];
    const original = fernetEncrypt(FernetKey.parse(older), 'totp secret', { clock: clockAt(T) });
    const [rotated] = await runPythonFernet([{ op: 'multi_rotate', keys: [newer, older], token: original }]);
    const token = ok(rotated);

    expect(fernetDecrypt(FernetKey.parse(newer), token).toString()).toBe('totp secret');
    expect(fernetExtractTimestamp(FernetKey.parse(newer), token)).toEqual(clockAt(T)());
    expect(new MultiFernet([FernetKey.parse(newer)]).decrypt(token).toString()).toBe('totp secret');
    expect(() => fernetDecrypt(FernetKey.parse(older), token)).toThrow(expect.objectContaining({ code: 'FERNET.INVALID_TOKEN' }));
  });

  it("Bastion's MultiFernet.rotate of a Python token keeps its timestamp, as Python's own rotate does", async () => {
    const [older, newer] = [generateFernetKey(), generateFernetKey()];
    const [made] = await runPythonFernet([{ op: 'encrypt_at_time', key: older, data: b64('totp secret'), time: T }]);
    const original = ok(made);
    const fernet = new MultiFernet([FernetKey.parse(newer), FernetKey.parse(older)], { clock: clockAt(T + 86_400) });
    const rotated = fernet.rotate(original);

    const [decrypted, timestamp, withOldKey, pythonRotated, pythonTimestamp] = await runPythonFernet([
      { op: 'decrypt', key: newer, token: rotated },
      { op: 'extract_timestamp', key: newer, token: rotated },
      { op: 'decrypt', key: older, token: rotated },
      { op: 'multi_rotate', keys: [newer, older], token: original },
      { op: 'extract_timestamp', key: newer, token: original },
    ]);
    expect(ok(decrypted)).toBe(b64('totp secret'));
    expect(ok(timestamp)).toBe(String(T));
    expect(withOldKey).toEqual({ invalid: true });
    // Both rotations give tokens that differ only in their IV (and so ciphertext and HMAC): same key, time, plaintext.
    expect(fernetExtractTimestamp(FernetKey.parse(newer), ok(pythonRotated))).toEqual(fernetExtractTimestamp(FernetKey.parse(newer), rotated));
    expect(fernet.decrypt(ok(pythonRotated)).toString()).toBe('totp secret');
    expect(pythonTimestamp).toEqual({ invalid: true });
  });

  it("Python's MultiFernet decrypts what Bastion's MultiFernet encrypts, under either key", async () => {
    const [older, newer] = [generateFernetKey(), generateFernetKey()];
    const bastion = new MultiFernet([FernetKey.parse(newer), FernetKey.parse(older)]);
    const answers = await runPythonFernet([
      { op: 'multi_decrypt', keys: [newer, older], token: bastion.encrypt('from the first key') },
      { op: 'multi_decrypt', keys: [newer, older], token: fernetEncrypt(FernetKey.parse(older), 'from the second key') },
      { op: 'decrypt', key: older, token: bastion.encrypt('x') },
    ]);
    expect(ok(answers[0])).toBe(b64('from the first key'));
    expect(ok(answers[1])).toBe(b64('from the second key'));
    expect(answers[2]).toEqual({ invalid: true });
  });
});
