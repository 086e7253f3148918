import { createHash } from 'node:crypto';
import { generateDataKey } from '../envelope';
import { PersonKeyCache } from './person-key-cache';
import { personKeyWrappingAad } from './person-key-service';
import { accountSubject, emailLookup, isPersonSubject, newEmailSubject, personEmailLookupKey } from './person-subject';
import { formatPersonalToken, isPersonalToken, parsePersonalToken } from './personal-token';
import { personalSubjectsOf, revealPersonal } from './reveal-personal';
import { openPersonal, type PersonKey, sealPersonal } from './seal-personal';

const ALICE = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b';
const BOB = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c';
const alice: PersonKey = { subject: ALICE, dataKey: generateDataKey(1) };
const bob: PersonKey = { subject: BOB, dataKey: generateDataKey(1) };
const ipOf = (record: string) => ({ record, field: 'request.ip' as const });

describe('person subjects', () => {
  it('an account subject is its id in lower case; anything else is refused', () => {
    expect(accountSubject(ALICE.toUpperCase())).toBe(ALICE);
    expect(() => accountSubject('alice@example.com')).toThrow(RangeError);
    expect(() => accountSubject('')).toThrow(RangeError);
  });

  it('an email subject is random (e-<uuid>) and says nothing about the email', () => {
    const subject = newEmailSubject(() => ALICE);
    expect(subject).toBe(`e-${ALICE}`);
    expect(isPersonSubject(subject)).toBe(true);
    expect(isPersonSubject('e-alice@example.com')).toBe(false);
    expect(() => newEmailSubject(() => 'not-a-uuid')).toThrow(RangeError);
  });

  it('the email lookup is keyed: another server key gives another value, and it is not the bare SHA-256', () => {
    const one = Buffer.alloc(32, 1);
    const two = Buffer.alloc(32, 2);
    const email = 'alice@example.com';
    expect(emailLookup(one, email)).toHaveLength(32);
    expect(emailLookup(one, email).equals(emailLookup(one, email))).toBe(true);
    expect(emailLookup(one, email).equals(emailLookup(two, email))).toBe(false);
    expect(emailLookup(one, email).toString('hex')).not.toBe(createHash('sha256').update(email).digest('hex'));
    expect(() => emailLookup(Buffer.alloc(16), email)).toThrow(RangeError);
  });

  it('the lookup key is derived from the server secrets, deterministically', () => {
    const secrets = { refreshTokenKey: Buffer.alloc(32, 1), sessionProofKey: Buffer.alloc(32, 2), agentKeyHashKey: Buffer.alloc(32, 3), recoveryCodeKey: Buffer.alloc(32, 4) };
    expect(personEmailLookupKey(secrets).equals(personEmailLookupKey({ ...secrets }))).toBe(true);
    expect(personEmailLookupKey(secrets).equals(secrets.recoveryCodeKey)).toBe(false);
  });

  it('the wrapping AAD binds the subject', () => {
    expect(personKeyWrappingAad(ALICE).equals(personKeyWrappingAad(BOB))).toBe(false);
  });
});

describe('personal tokens', () => {
  it('round-trip, and name their subject', () => {
    const token = sealPersonal(alice, '203.0.113.7', ipOf('req-1'));
    expect(isPersonalToken(token)).toBe(true);
    expect(token).not.toContain('203.0.113.7');
    expect(parsePersonalToken(token).subject).toBe(ALICE);
    expect(openPersonal(alice, token, ipOf('req-1'))).toBe('203.0.113.7');
  });

  it('refuse malformed tokens and tokens without a valid subject', () => {
    expect(() => parsePersonalToken('203.0.113.7')).toThrow();
    expect(() => parsePersonalToken('pd1:alice:v1.1.AAAA')).toThrow();
    expect(() => parsePersonalToken(`pd1:${ALICE}:nope`)).toThrow();
    expect(() => formatPersonalToken('alice', 'v1.1.AAAA')).toThrow(RangeError);
    expect(isPersonalToken(null)).toBe(false);
  });

  it('a token moved to another request, another field or another person does not open', () => {
    const token = sealPersonal(alice, 'Mozilla/5.0', { record: 'req-1', field: 'request.userAgent' });
    expect(() => openPersonal(alice, token, { record: 'req-2', field: 'request.userAgent' })).toThrow();
    expect(() => openPersonal(alice, token, { record: 'req-1', field: 'request.ip' })).toThrow();
    expect(() => openPersonal(bob, token, { record: 'req-1', field: 'request.userAgent' })).toThrow(RangeError);
    // Relabelled as Bob's, it still does not open with Bob's key: the subject is bound into the AAD.
    const relabelled = token.replace(ALICE, BOB);
    expect(() => openPersonal(bob, relabelled, { record: 'req-1', field: 'request.userAgent' })).toThrow();
  });

  it('a key that replaced an erased one does not open the old tokens', () => {
    const token = sealPersonal(alice, 'alice@example.com', { record: ALICE, field: 'user.email' });
    const reborn: PersonKey = { subject: ALICE, dataKey: generateDataKey(1) };
    expect(() => openPersonal(reborn, token, { record: ALICE, field: 'user.email' })).toThrow();
  });
});

describe('revealPersonal', () => {
  const keys = new Map([[ALICE, alice]]);

  it('opens a token whose person has a key', () => {
    expect(revealPersonal(keys, sealPersonal(alice, '198.51.100.1', ipOf('r')), ipOf('r'))).toEqual({ value: '198.51.100.1', erased: false });
  });

  it('shows a token whose person has no key (erased), or that does not open, as erased — never throws', () => {
    expect(revealPersonal(keys, sealPersonal(bob, '198.51.100.1', ipOf('r')), ipOf('r'))).toEqual({ value: null, erased: true });
    expect(revealPersonal(keys, sealPersonal(alice, '198.51.100.1', ipOf('r')), ipOf('other'))).toEqual({ value: null, erased: true });
    expect(revealPersonal(keys, `pd1:${ALICE}:garbage`, ipOf('r'))).toEqual({ value: null, erased: true });
    expect(revealPersonal(keys, sealPersonal(alice, 'x', ipOf('r')), null)).toEqual({ value: null, erased: true });
  });

  it('leaves null and values written before sealing as they are', () => {
    expect(revealPersonal(keys, null, ipOf('r'))).toEqual({ value: null, erased: false });
    expect(revealPersonal(keys, '192.0.2.1', ipOf('r'))).toEqual({ value: '192.0.2.1', erased: false });
  });

  it('personalSubjectsOf collects each subject once, skipping plaintext and malformed tokens', () => {
    const values = [sealPersonal(alice, 'a', ipOf('1')), sealPersonal(alice, 'b', ipOf('2')), sealPersonal(bob, 'c', ipOf('3')), 'plain', null, 'pd1:junk'];
    expect([...personalSubjectsOf(values)].sort()).toEqual([ALICE, BOB].sort());
  });
});

describe('PersonKeyCache', () => {
  let ms = 1_700_000_000_000;
  const now = () => ms;
  const wrapped = Buffer.alloc(60, 7);

  it('keeps a key for its TTL counted from the unwrap, then forgets it', () => {
    const cache = new PersonKeyCache({ ttlSeconds: 60, now });
    cache.set(alice, wrapped);
    ms += 59_999;
    expect(cache.get(ALICE)).toBe(alice);
    ms += 1;
    expect(cache.get(ALICE)).toBeUndefined();
  });

  it('serves a reader only a key unwrapped from the bytes the database holds now', () => {
    const cache = new PersonKeyCache({ now });
    cache.set(alice, wrapped);
    expect(cache.get(ALICE, wrapped)).toBe(alice);
    expect(cache.get(ALICE, Buffer.alloc(60, 8))).toBeUndefined();
  });

  it('caches nothing with a TTL of 0, evicts on demand, refuses a bad TTL', () => {
    const none = new PersonKeyCache({ ttlSeconds: 0, now });
    none.set(alice, wrapped);
    expect(none.size).toBe(0);
    const cache = new PersonKeyCache({ now });
    cache.set(alice, wrapped);
    cache.set(bob, wrapped);
    cache.evict([ALICE]);
    expect(cache.get(ALICE)).toBeUndefined();
    expect(cache.get(BOB)).toBe(bob);
    cache.evictAll();
    expect(cache.size).toBe(0);
    expect(() => new PersonKeyCache({ ttlSeconds: -1 })).toThrow(RangeError);
  });

  it('sweeps expired entries once it grows past its bound', () => {
    const cache = new PersonKeyCache({ ttlSeconds: 1, now, sweepAbove: 2 });
    cache.set(alice, wrapped);
    cache.set(bob, wrapped);
    ms += 1000;
    cache.set({ subject: `e-${ALICE}`, dataKey: alice.dataKey }, wrapped);
    expect(cache.size).toBe(1);
  });
});
