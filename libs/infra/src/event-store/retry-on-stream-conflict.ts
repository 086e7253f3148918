import { setTimeout as sleep } from 'node:timers/promises';
import { WrongExpectedRevisionError } from './event-store.port';

const SERIALIZATION_FAILURE = '40001';
const UNIQUE_VIOLATION = '23505';
const STREAM_REVISION_CONSTRAINT = 'events_stream_revision_unique';

/**
 * True when `error` means another writer appended to the same stream first, so the unit of work may run again on
 * fresh state: the port's typed error; SQLSTATE 40001, which `authz.append_event` raises when a stream is not at the
 * revision a definer function expects (as PostgreSQL does for a serialisation failure); or a unique violation of
 * (stream, revision). Since migration 0023 appends to one stream wait for each other (a per-stream advisory lock), so
 * the definer functions' appends no longer lose that way; the adapter's, whose statement read the revision before
 * it waited, still can.
 */
export function isStreamConflict(error: unknown): boolean {
  if (error instanceof WrongExpectedRevisionError) return true;
  const { code, constraint } = (error ?? {}) as { code?: unknown; constraint?: unknown };
  return code === SERIALIZATION_FAILURE || (code === UNIQUE_VIOLATION && constraint === STREAM_REVISION_CONSTRAINT);
}

export interface StreamConflictRetry {
  /** Runs in all, the first included. */
  readonly attempts?: number;
  /** Pause before the n-th retry: random, up to n times this, so contenders do not collide in step again. */
  readonly pauseMs?: number;
}

/**
 * Runs `unitOfWork` again, a bounded number of times, when it lost a race for a stream. The unit must be one whole
 * transaction that re-reads whatever it decides on and has no effect outside it (no mail, no job), so a lost attempt
 * leaves nothing behind and a retry can neither do the work twice nor act on stale state. Every other error, and the
 * last conflict, is thrown. An event keeps its id across attempts: should an attempt ever have committed after all,
 * the next one is refused by the event-id constraint, which is not retried.
 */
export async function retryOnStreamConflict<T>(unitOfWork: () => Promise<T>, options: StreamConflictRetry = {}): Promise<T> {
  const attempts = options.attempts ?? 5;
  const pauseMs = options.pauseMs ?? 10;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await unitOfWork();
    } catch (error) {
      if (attempt >= attempts || !isStreamConflict(error)) throw error;
      await sleep(Math.floor(Math.random() * pauseMs * attempt));
    }
  }
}
