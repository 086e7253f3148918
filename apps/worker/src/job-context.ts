import { type CommandContext, SYSTEM_ACTOR } from '@bastion/domain';
import { uuidv7 } from '@bastion/infra/ids/uuid-v7';

/** What every job carries to tie its events to the event that caused it. */
export interface CausedJob {
  readonly orgId: string;
  readonly correlationId: string;
  readonly causationEventId: string;
}

/** The context of the events a job appends: the system acting for `job.orgId`, caused by the job's event. */
export function jobContext(job: CausedJob, now: Date): CommandContext {
  return {
    orgId: job.orgId,
    actor: SYSTEM_ACTOR,
    authMethod: 'system',
    correlationId: job.correlationId,
    causationId: job.causationEventId,
    now,
    newId: () => uuidv7(),
  };
}
