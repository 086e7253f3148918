import type { EventsHandler, Position, RecordedEvent, Subscription } from '../event-store.port';

export interface PollingSubscriptionOptions {
  readonly from: Position;
  readonly read: (from: Position, maxCount: number) => Promise<RecordedEvent[]>;
  readonly handler: EventsHandler;
  readonly batchSize: number;
  readonly pollIntervalMs: number;
  readonly onRetry?: (error: unknown, attempt: number) => void;
}

const MAX_BACKOFF_MS = 5000;

/**
 * Catch-up by polling the gated global order. A full batch is followed at once by the next read; a short one means
 * "caught up" and waits one interval. Read failures (the database restarting) back off and retry from the same
 * position; a handler failure stops the subscription, because skipping an event is never an option.
 */
export function pollingSubscription(options: PollingSubscriptionOptions): Subscription {
  let stopped = false;
  let wake: (() => void) | undefined;
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  const run = async () => {
    let position = options.from;
    let failures = 0;
    while (!stopped) {
      let batch: RecordedEvent[];
      try {
        batch = await options.read(position, options.batchSize);
        failures = 0;
      } catch (error) {
        failures += 1;
        options.onRetry?.(error, failures);
        await sleep(Math.min(MAX_BACKOFF_MS, 50 * 2 ** failures));
        continue;
      }
      if (stopped) break;
      if (batch.length > 0) {
        await options.handler(batch);
        position = batch[batch.length - 1]!.position;
      }
      if (batch.length < options.batchSize) await sleep(options.pollIntervalMs);
    }
  };

  const done = run();
  done.catch(() => undefined); // observed through `done`; never an unhandled rejection
  return {
    done,
    async stop() {
      stopped = true;
      wake?.();
      await done.catch(() => undefined);
    },
  };
}
