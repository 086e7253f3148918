import { type PersonErased, SYSTEM_ACTOR, toNewEvents } from '@bastion/domain';
import { normalizeEmail } from '@bastion/domain/identity/email';
import type { Pool } from 'pg';
import type { EventStore } from '../../event-store/event-store.port';
import { uuidv7 } from '../../ids/uuid-v7';
import { emailLookup } from './person-subject';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface PersonErasure {
  /** The account erased, when `who` named one (or its email did). */
  readonly userId: string | null;
  /** Keys deleted: the account's own, and the email's. 0 when the person had none (or was erased before). */
  readonly keysDeleted: number;
  readonly streamId: string;
}

/**
 * Crypto-shredding of one person, by the operator (`bastion erase-person <userId|email>`, with DATABASE_URL's
 * owner rights; no application role may delete a person key): deletes the person's keys — their account's and
 * their email's (an invitation, a failed sign-in) — so every value sealed for them, in every event, export and
 * (once they age out) backup, can no longer be opened. Then records `PersonErased`, which names no personal data:
 * the account id (already on every event of theirs) and a count.
 *
 * The account's mutable rows (its login email, sessions) are not touched here: closing the account is a separate
 * decision. Processes that still hold the key in memory may seal new values under it for at most their cache TTL;
 * those are unreadable too.
 */
export async function erasePerson(pool: Pool, store: EventStore, lookupKey: Buffer, who: string): Promise<PersonErasure> {
  let userId: string | null = null;
  let normalized: string | null = null;
  if (UUID.test(who)) {
    userId = who.toLowerCase();
    const { rows } = await pool.query<{ email_normalized: string }>('select email_normalized from authz.users where id = $1', [userId]);
    normalized = rows[0]?.email_normalized ?? null;
  } else {
    normalized = normalizeEmail(who);
    const { rows } = await pool.query<{ id: string }>('select id from authz.users where email_normalized = $1', [normalized]);
    userId = rows[0]?.id ?? null;
  }
  const lookup = normalized === null ? null : emailLookup(lookupKey, normalized);
  const { rows } = await pool.query<{ n: number }>('select authz.erase_person($1, $2) as n', [userId, lookup]);
  const keysDeleted = rows[0]!.n;
  const streamId = userId === null ? `person-${uuidv7()}` : `user-${userId}`;
  const events = toNewEvents<PersonErased>([{ type: 'PersonErased', data: { userId, keysDeleted } }], {
    orgId: null,
    actor: SYSTEM_ACTOR,
    authMethod: 'operator-cli',
    correlationId: uuidv7(),
    now: new Date(),
    newId: () => uuidv7(),
  });
  await store.append(streamId, events, userId === null ? 'no_stream' : 'any');
  return { userId, keysDeleted, streamId };
}
