import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pool } from 'pg';
import { closePools, poolFor, type TestDatabase, workerDatabase } from '../../../../../test/support/database';
import { withoutPrincipal } from '../../database/with-principal';
import { uuidv7 } from '../../ids/uuid-v7';
import { KmsIntegrityError, LocalKms } from '../kms';
import { KmsRouter } from '../org-keys';
import { PersonKeyCache } from './person-key-cache';
import { PersonKeyService, type Transact } from './person-key-service';
import { openPersonal, sealPersonal } from './seal-personal';

let db: TestDatabase;
let admin: Pool;
let app: Pool;
let transact: Transact;
const kmsDir = mkdtempSync(join(tmpdir(), 'bastion-person-keys-'));
const lookupKey = Buffer.alloc(32, 9);

function service(ttlSeconds = 300): PersonKeyService {
  const kms = new KmsRouter({ local: new LocalKms({ directory: kmsDir }) });
  return new PersonKeyService({ kms, keyRef: 'local://platform', emailLookupKey: lookupKey, cache: new PersonKeyCache({ ttlSeconds }), newId: uuidv7 });
}

beforeAll(async () => {
  // The platform key exists before two services race to use it, as it does in a deployment.
  await new LocalKms({ directory: kmsDir }).createKey('platform');
  db = await workerDatabase();
  admin = poolFor(db.adminUrl);
  app = poolFor(db.urlFor('bastion_app'), 4);
  transact = (work) => withoutPrincipal(app, work);
});
afterAll(async () => {
  await closePools();
});

describe('person keys', () => {
  it('two processes asking for a new person’s key at once end up with one key, and the table holds it only wrapped', async () => {
    const userId = uuidv7();
    const [a, b] = await Promise.all([service().keyFor(transact, userId), service().keyFor(transact, userId)]);
    expect(a.dataKey.key.equals(b.dataKey.key)).toBe(true);
    const rows = (await admin.query('select * from authz.person_keys where subject = $1', [userId])).rows;
    expect(rows).toHaveLength(1);
    expect(rows[0].wrapped.includes(a.dataKey.key)).toBe(false);
    expect(rows[0].key_ref).toBe('local://platform');
  });

  it('an email gets one random subject, found again by the email; the table holds no trace of the address itself', async () => {
    const email = `someone-${uuidv7()}@example.com`;
    const first = await service().keyForEmail(transact, email);
    const again = await service().keyForEmail(transact, email);
    expect(first.subject).toMatch(/^e-[0-9a-f-]{36}$/);
    expect(again.subject).toBe(first.subject);
    expect((await service().keyForEmail(transact, `other-${email}`)).subject).not.toBe(first.subject);
    const row = (await admin.query('select * from authz.person_keys where subject = $1', [first.subject])).rows[0];
    expect(JSON.stringify(row)).not.toContain(email);
    expect(row.email_lookup.toString('hex')).not.toContain(Buffer.from(email).toString('hex'));
  });

  it('after an erasure, readers find no key at once — even in a process that still holds it in memory — and a new key opens nothing old', async () => {
    const userId = uuidv7();
    const keys = service();
    const before = await keys.keyFor(transact, userId);
    const token = sealPersonal(before, '192.0.2.44', { record: 'r1', field: 'request.ip' });
    expect((await keys.keysOf(transact, [userId])).has(userId)).toBe(true);
    await admin.query('select authz.erase_person($1, null)', [userId]);
    expect((await keys.keysOf(transact, [userId])).has(userId)).toBe(false);
    // Someone acts again: a fresh key (from another process, whose memory holds nothing).
    const after = await service().keyFor(transact, userId);
    expect(after.dataKey.key.equals(before.dataKey.key)).toBe(false);
    const now = (await keys.keysOf(transact, [userId])).get(userId)!;
    expect(now.dataKey.key.equals(after.dataKey.key)).toBe(true);
    expect(() => openPersonal(now, token, { record: 'r1', field: 'request.ip' })).toThrow();
  });

  it('a wrapped key copied into another person’s row does not unwrap there', async () => {
    const victim = uuidv7();
    const thief = uuidv7();
    await service().keyFor(transact, victim);
    await service().keyFor(transact, thief);
    await admin.query('update authz.person_keys set wrapped = (select wrapped from authz.person_keys where subject = $1) where subject = $2', [victim, thief]);
    await expect(service().keysOf(transact, [thief])).rejects.toBeInstanceOf(KmsIntegrityError);
  });

  it('the application role may read and create keys, but not write the table or erase anyone', async () => {
    await expect(app.query("update authz.person_keys set key_ref = 'local://other'")).rejects.toMatchObject({ code: '42501' });
    await expect(app.query('select authz.erase_person(null, null)')).rejects.toMatchObject({ code: '42501' });
    await expect(app.query('insert into authz.person_keys (subject, key_ref, wrapped) values ($1, $2, $3)', [uuidv7(), 'local://x', Buffer.alloc(64)])).rejects.toMatchObject({ code: '42501' });
  });
});
