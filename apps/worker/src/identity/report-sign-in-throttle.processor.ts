import { randomUUID } from 'node:crypto';
import { type SignInThrottled, SYSTEM_ACTOR, toNewEvents } from '@bastion/domain';
import type { EventStore } from '@bastion/infra/event-store/event-store.port';
import type { SignInLimiter } from '@bastion/infra/identity/sign-in-limiter';
import { uuidv7 } from '@bastion/infra/ids/uuid-v7';
import type { SignInThrottleReportJob } from '@bastion/infra/queue/queues';

/**
 * At the end of a lock or window, records the whole burst of refused sign-ins as one `SignInThrottled` with its
 * count (DESIGN §5): on the account's stream when the account exists, else on a stream of its own. Reading the
 * count is a GETDEL, so a retried job that already appended finds zero and appends nothing more.
 */
export async function reportSignInThrottle(
  store: EventStore,
  limiter: SignInLimiter,
  job: SignInThrottleReportJob,
  clock: () => Date = () => new Date(),
): Promise<'recorded' | 'nothing-to-record'> {
  const refused = await limiter.takeThrottledCount(job.scope, job.subject);
  if (refused === 0) return 'nothing-to-record';
  const events = toNewEvents<SignInThrottled>(
    [
      {
        type: 'SignInThrottled',
        data: { userId: job.userId, emailHash: job.emailHash, scope: job.scope, refusedAttempts: refused, windowSeconds: job.windowSeconds },
      },
    ],
    { orgId: null, actor: SYSTEM_ACTOR, authMethod: 'system', correlationId: job.correlationId, now: clock(), newId: () => uuidv7() },
  );
  const stream = job.userId ? `user-${job.userId}` : `signin-${randomUUID()}`;
  await store.append(stream, events, job.userId ? 'any' : 'no_stream');
  return 'recorded';
}
