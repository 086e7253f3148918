import { join } from 'node:path';
import Redis from 'ioredis';
import type { Pool } from 'pg';
import { erasePerson, personEmailLookupKey, publishPersonKeyEviction } from '@bastion/infra/crypto/person-keys';
import { loadServerSecrets } from '@bastion/infra/crypto/server-secrets';
import { PostgresEventStore } from '@bastion/infra/event-store/postgres/postgres-event-store.adapter';
import { type TestApi, startReplicas, type Replicas } from '../../../../../test/support/api';
import { closePools, poolFor, type TestDatabase, workerDatabase } from '../../../../../test/support/database';
import { signUp } from '../../../../../test/support/identity';
import { redisUrl } from '../../../../../test/support/services';
import { PersonalData } from './personal-data';

/*
 * Two API processes (two Nest apps sharing the Redis prefix and the server's keys, as two replicas do), each with
 * the person-key cache and eviction subscription its module wires, and the operator's erasure as the CLI runs it.
 * The cache TTL is an hour, so the TTL is never what makes a process forget a key here.
 */
let db: TestDatabase;
let replicas: Replicas;
let a: TestApi;
let b: TestApi;
let admin: Pool;
let publisher: Redis;

beforeAll(async () => {
  db = await workerDatabase();
  replicas = await startReplicas(db, { PERSON_KEY_TTL_SECONDS: '3600' });
  ({ a, b } = replicas);
  admin = poolFor(db.adminUrl);
  publisher = new Redis(redisUrl());
}, 60_000);
afterAll(async () => {
  publisher?.disconnect();
  await replicas?.close();
  await closePools();
});

async function eventually(check: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('person keys across API processes', () => {
  it('every API process stops sealing with an erased person’s key as soon as bastion erase-person publishes the erasure', async () => {
    const { userId, email } = await signUp(a);
    const personals = [a, b].map((api) => api.app.get(PersonalData, { strict: false }));
    const before = await personals[0]!.keys.keyFor(personals[0]!.transact, userId);
    await personals[1]!.keys.keyFor(personals[1]!.transact, userId);
    for (const personal of personals) expect(personal.keys.peek(userId)).toBeDefined();

    const lookupKey = personEmailLookupKey(loadServerSecrets({ NODE_ENV: 'test' }, join(a.keysDir, 'server-secret')));
    const erasure = await erasePerson(admin, new PostgresEventStore(admin), lookupKey, email, {
      evictions: { publish: (subject) => publishPersonKeyEviction(publisher, a.redisPrefix, subject) },
    });
    expect(erasure).toMatchObject({ userId, keysDeleted: 1, evictionsPublished: true });

    await eventually(() => personals.every((personal) => personal.keys.peek(userId) === undefined), 'both API processes to forget the key', 2000);
    const after = await personals[1]!.keys.keyFor(personals[1]!.transact, userId);
    expect(after.dataKey.key.equals(before.dataKey.key)).toBe(false);
  });
});
