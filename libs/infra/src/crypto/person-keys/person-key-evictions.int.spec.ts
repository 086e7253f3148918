/**
 * Person-key evictions against a real database (the operator's erasure, migrations/0018_person-keys.sql) and a real
 * Redis: each "process" here is a PersonKeyService with its own cache and its own subscriber connection, as two API
 * processes would have. Every channel carries this run's prefix.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import type { Pool } from 'pg';
import { closePools, poolFor, type TestDatabase, workerDatabase } from '../../../../../test/support/database';
import { dropPrefix, redisPrefix } from '../../../../../test/support/redis';
import { redisUrl } from '../../../../../test/support/services';
import { withoutPrincipal } from '../../database/with-principal';
import { PostgresEventStore } from '../../event-store/postgres/postgres-event-store.adapter';
import { uuidv7 } from '../../ids/uuid-v7';
import { openRedis } from '../../queue/redis';
import { LocalKms } from '../kms';
import { KmsRouter } from '../org-keys';
import { erasePerson, type ErasePersonOptions } from './erase-person';
import { PersonKeyCache } from './person-key-cache';
import { PersonKeyEvictions, personKeyEvictionChannel, publishPersonKeyEviction } from './person-key-evictions';
import { PersonKeyService, type Transact } from './person-key-service';
import { emailLookup } from './person-subject';
import { openPersonal, sealPersonal } from './seal-personal';

/** Long enough that the TTL can never be what makes a process forget a key during these tests. */
const TTL_SECONDS = 3600;
const lookupKey = Buffer.alloc(32, 11);
const kmsDir = mkdtempSync(join(tmpdir(), 'bastion-person-key-evictions-'));
const ip = (record: string) => ({ record, field: 'request.ip' as const });

let db: TestDatabase;
let admin: Pool;
let app: Pool;
let transact: Transact;
let kms: KmsRouter;
let publisher: Redis;
let prefix: string;
const started: PersonKeyEvictions[] = [];
const listeners: Redis[] = [];

interface Process {
  readonly service: PersonKeyService;
  readonly cache: PersonKeyCache;
  readonly evictions: PersonKeyEvictions;
  readonly subscriber: Redis;
  readonly log: string[];
}

/** One API process's person keys: its own cache and its own eviction subscription. */
async function newProcess(): Promise<Process> {
  const cache = new PersonKeyCache({ ttlSeconds: TTL_SECONDS });
  const subscriber = await openRedis(redisUrl());
  const log: string[] = [];
  const evictions = new PersonKeyEvictions({
    publisher,
    subscriber,
    prefix,
    cache,
    onLost: () => log.push('lost'),
    onRestored: () => log.push('restored'),
  });
  await evictions.start();
  started.push(evictions);
  const service = new PersonKeyService({ kms, keyRef: 'local://platform', emailLookupKey: lookupKey, cache, newId: uuidv7 });
  return { service, cache, evictions, subscriber, log };
}

/** `bastion erase-person`, as the CLI runs it: the owner's pool, a publish-only Redis connection. */
function erase(who: string, options: ErasePersonOptions = { evictions: { publish: (subject) => publishPersonKeyEviction(publisher, prefix, subject) } }) {
  return erasePerson(admin, new PostgresEventStore(admin), lookupKey, who, options);
}

/** Every message on the person-key channel from now on. */
async function listen(): Promise<string[]> {
  const listener = await openRedis(redisUrl());
  listeners.push(listener);
  const messages: string[] = [];
  listener.on('message', (_channel: string, message: string) => messages.push(message));
  await listener.subscribe(personKeyEvictionChannel(prefix));
  return messages;
}

async function eventually(check: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

beforeAll(async () => {
  await new LocalKms({ directory: kmsDir }).createKey('platform');
  kms = new KmsRouter({ local: new LocalKms({ directory: kmsDir }) });
  db = await workerDatabase();
  admin = poolFor(db.adminUrl);
  app = poolFor(db.urlFor('bastion_app'), 4);
  transact = (work) => withoutPrincipal(app, work);
  prefix = redisPrefix('person-keys');
  publisher = new Redis(redisUrl());
});

afterAll(async () => {
  for (const evictions of started) await evictions.close();
  for (const listener of listeners) listener.disconnect();
  publisher?.disconnect();
  await closePools();
  if (prefix) await dropPrefix(prefix);
});

describe('person-key evictions', () => {
  it('a process stops sealing with an erased person’s key as soon as the erasure is published', async () => {
    const a = await newProcess();
    const b = await newProcess();
    const userId = uuidv7();
    const before = await a.service.keyFor(transact, userId);
    expect((await b.service.keyFor(transact, userId)).dataKey.key.equals(before.dataKey.key)).toBe(true);
    // B would seal from memory, without looking at the key table, for another hour.
    expect(b.service.peek(userId)).toBeDefined();

    const erasure = await erase(userId);
    expect(erasure).toMatchObject({ keysDeleted: 1, evictionsPublished: true });

    await eventually(() => a.service.peek(userId) === undefined && b.service.peek(userId) === undefined, 'both processes to forget the key', 2000);
    // B's next seal reloads from the key table: a new key, not the erased one, so what it seals stays readable.
    const after = await b.service.keyFor(transact, userId);
    expect(after.dataKey.key.equals(before.dataKey.key)).toBe(false);
    const token = sealPersonal(after, '192.0.2.7', ip('after-erasure'));
    const current = (await a.service.keysOf(transact, [userId])).get(userId)!;
    expect(openPersonal(current, token, ip('after-erasure'))).toBe('192.0.2.7');
    expect(() => openPersonal(before, token, ip('after-erasure'))).toThrow();
  });

  it('an erasure by email evicts the email’s pseudonymous subject everywhere too', async () => {
    const a = await newProcess();
    const b = await newProcess();
    const email = `stranger-${uuidv7()}@example.com`;
    const key = await a.service.keyForEmail(transact, email);
    await b.service.keyForEmail(transact, email);
    expect(b.service.peek(key.subject)).toBeDefined();

    expect(await erase(email.toUpperCase())).toMatchObject({ userId: null, keysDeleted: 1, evictionsPublished: true });
    await eventually(() => a.service.peek(key.subject) === undefined && b.service.peek(key.subject) === undefined, 'the pseudonym to be forgotten', 2000);
    expect((await b.service.keyForEmail(transact, email)).subject).not.toBe(key.subject);
  });

  it('the published eviction carries the subject only: no key material, no email, no lookup hash', async () => {
    const p = await newProcess();
    const userId = uuidv7();
    const email = `someone-${uuidv7()}@example.com`;
    const accountKey = await p.service.keyFor(transact, userId);
    const emailKey = await p.service.keyForEmail(transact, email);
    const wrapped = (await admin.query<{ wrapped: Buffer }>('select wrapped from authz.person_keys where subject = any($1)', [[userId, emailKey.subject]])).rows.map((r) => r.wrapped);
    expect(wrapped).toHaveLength(2);
    const messages = await listen();

    await erase(userId);
    await erase(email);
    await eventually(() => messages.length === 2, 'both evictions', 2000);

    expect(messages.map((m) => JSON.parse(m))).toEqual([{ subject: userId }, { subject: emailKey.subject }]);
    const text = messages.join('\n');
    expect(text.toLowerCase()).not.toContain(email.toLowerCase());
    expect(text).not.toContain('@');
    const secrets = [accountKey.dataKey.key, emailKey.dataKey.key, ...wrapped, emailLookup(lookupKey, email)];
    for (const secret of secrets) {
      for (const encoding of ['hex', 'base64', 'base64url'] as const) expect(text).not.toContain(secret.toString(encoding));
    }
    // Nothing but a subject can be published at all: an email is refused before it reaches Redis.
    await expect(publishPersonKeyEviction(publisher, prefix, email)).rejects.toBeInstanceOf(RangeError);
    await expect(p.evictions.publish(accountKey.dataKey.key.toString('hex'))).rejects.toBeInstanceOf(RangeError);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(messages).toHaveLength(2);
  });

  it('a key read before the erasure’s eviction arrived is not put back in the cache after it', async () => {
    const p = await newProcess();
    const userId = uuidv7();
    await new PersonKeyService({ kms, keyRef: 'local://platform', emailLookupKey: lookupKey, newId: uuidv7 }).keyFor(transact, userId);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let read!: () => void;
    const hasRead = new Promise<void>((resolve) => (read = resolve));
    // The load reads the (still existing) key row, then stalls until the erasure has been heard.
    const slow: Transact = async (work) => {
      const result = await transact(work);
      read();
      await gate;
      return result;
    };
    const stale = p.service.keyFor(slow, userId);
    await hasRead;
    const epoch = p.cache.epoch;
    await erase(userId);
    await eventually(() => p.cache.epoch !== epoch, 'the eviction', 2000);
    // A caller after the eviction does not join the load that started before it (joining would wait on the gate).
    const now = await p.service.keyFor(transact, userId);
    release();
    const old = await stale;
    expect(now.dataKey.key.equals(old.dataKey.key)).toBe(false);
    // The stale load, finishing last, did not put the erased key back over the new one.
    expect(p.service.peek(userId)?.dataKey.key.equals(now.dataKey.key)).toBe(true);
  });

  it('a message it cannot read makes a process forget every person key', async () => {
    const p = await newProcess();
    await p.service.keyFor(transact, uuidv7());
    await p.service.keyFor(transact, uuidv7());
    expect(p.cache.size).toBe(2);
    await publisher.publish(p.evictions.channel, JSON.stringify({ subject: 'not a subject' }));
    await eventually(() => p.cache.size === 0, 'the cache to be dropped', 2000);
  });

  it('a process that loses its subscription drops its cache and says so, seals within the TTL meanwhile, and drops it again when back', async () => {
    const p = await newProcess();
    const userId = uuidv7();
    await p.service.keyFor(transact, userId);
    expect(p.cache.size).toBe(1);

    const lost = new Promise<void>((resolve) => p.subscriber.once('end', () => resolve()));
    p.subscriber.disconnect(); // gone until we reconnect below
    await lost;
    expect(p.evictions.live).toBe(false);
    expect(p.cache.size).toBe(0);
    expect(p.log).toEqual(['lost']);
    // Deaf, it still seals — as before evictions existed, trusting a key for at most the TTL.
    const meanwhile = await p.service.keyFor(transact, userId);
    expect(p.service.peek(userId)).toBe(meanwhile);

    await p.subscriber.connect();
    await eventually(() => p.evictions.live, 'the subscription to come back', 5000);
    expect(p.log).toEqual(['lost', 'restored']);
    // Whatever it loaded while deaf may have been erased meanwhile: it is forgotten now.
    expect(p.cache.size).toBe(0);
    await p.service.keyFor(transact, userId);
    await erase(userId);
    await eventually(() => p.service.peek(userId) === undefined, 'the eviction after resubscription', 2000);
  });

  it('an erasure with Redis unreachable still erases, and says that running processes were not told', async () => {
    const userId = uuidv7();
    await new PersonKeyService({ kms, keyRef: 'local://platform', emailLookupKey: lookupKey, newId: uuidv7 }).keyFor(transact, userId);
    // Bastion's connections queue commands while disconnected and never give up; nothing listens on port 1. (A short
    // disconnectTimeout so that the half-open socket does not outlive the suite.)
    const dead = new Redis('redis://127.0.0.1:1', { maxRetriesPerRequest: null, retryStrategy: () => 1000, disconnectTimeout: 10 });
    dead.on('error', () => undefined);
    const reported: string[] = [];
    try {
      const erasure = await erase(userId, {
        evictions: { publish: (subject) => publishPersonKeyEviction(dead, prefix, subject, 200) },
        onError: (_error, what) => reported.push(what),
      });
      expect(erasure).toMatchObject({ keysDeleted: 1, evictionsPublished: false });
      expect(reported).toEqual(['publish a person-key eviction']);
      expect((await admin.query('select count(*)::int as n from authz.person_keys where subject = $1', [userId])).rows[0].n).toBe(0);
    } finally {
      dead.disconnect();
    }
  });
});
