import { type PersonErased, SYSTEM_ACTOR, toNewEvents } from '@bastion/domain';
import { normalizeEmail } from '@bastion/domain/identity/email';
import type { Pool } from 'pg';
import type { EventStore } from '../../event-store/event-store.port';
import { uuidv7 } from '../../ids/uuid-v7';
import type { PersonKeyEvictionPublisher } from './person-key-evictions';
import { emailLookup } from './person-subject';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface PersonErasure {
  /** The account erased, when `who` named one (or its email did). */
  readonly userId: string | null;
  /** Keys deleted: the account's own, and the email's. 0 when the person had none (or was erased before). */
  readonly keysDeleted: number;
  readonly streamId: string;
  /**
   * True when every running process was told to forget the erased keys (Redis); false when there was nobody to
   * tell it to, or Redis did not take it — then those processes may seal under the erased keys for up to their TTL.
   */
  readonly evictionsPublished: boolean;
}

export interface ErasePersonOptions {
  /** Tells running processes to drop the erased keys from memory; without it they do so within their TTL. */
  readonly evictions?: PersonKeyEvictionPublisher;
  /** Told about a publish that failed (the erasure itself stands). */
  readonly onError?: (error: unknown, what: string) => void;
}

/**
 * Crypto-shredding of one person, by the operator (`bastion erase-person <userId|email>`, with DATABASE_URL's
 * owner rights; no application role may delete a person key): deletes the person's keys — their account's and
 * their email's (an invitation, a failed sign-in) — so every value sealed for them, in every event, export and
 * (once they age out) backup, can no longer be opened. Then records `PersonErased`, which names no personal data:
 * the account id (already on every event of theirs) and a count.
 *
 * Once the keys are deleted (committed), every running process is told to drop them from memory, by subject only
 * (`options.evictions`), so none seals new values under them; a process that does not hear it (Redis down) may do
 * so for at most its cache TTL, and those values are unreadable too. Erasing again publishes again.
 *
 * The account's mutable rows (its login email, sessions) are not touched here: closing the account is a separate
 * decision.
 */
export async function erasePerson(pool: Pool, store: EventStore, lookupKey: Buffer, who: string, options: ErasePersonOptions = {}): Promise<PersonErasure> {
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
  // The email's pseudonymous subject, for the eviction: erase_person only says how many keys it deleted.
  const emailSubjects =
    lookup === null ? [] : (await pool.query<{ subject: string }>('select subject from authz.person_key_for_email($1)', [lookup])).rows.map((r) => r.subject);
  const { rows } = await pool.query<{ n: number }>('select authz.erase_person($1, $2) as n', [userId, lookup]);
  const keysDeleted = rows[0]!.n;
  const evictionsPublished = await publishEvictions(userId === null ? emailSubjects : [userId, ...emailSubjects], options);
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
  return { userId, keysDeleted, streamId, evictionsPublished };
}

async function publishEvictions(subjects: readonly string[], options: ErasePersonOptions): Promise<boolean> {
  if (options.evictions === undefined) return false;
  let published = true;
  for (const subject of subjects) {
    try {
      await options.evictions.publish(subject);
    } catch (error) {
      published = false;
      options.onError?.(error, 'publish a person-key eviction');
    }
  }
  return published;
}
