import type { JsonLogger } from './logger';

/**
 * Graceful shutdown on SIGTERM/SIGINT: stop taking work, finish what is in flight, close connections; exit 1 if
 * that takes longer than the grace period (a stuck job is retried elsewhere thanks to its deterministic id).
 */
export function onShutdown(logger: JsonLogger, graceMs: number, close: () => Promise<void>): void {
  let closing = false;
  const handler = (signal: NodeJS.Signals) => {
    if (closing) return;
    closing = true;
    logger.info('shutting down', { signal });
    const timer = setTimeout(() => {
      logger.event('error', 'shutdown grace period exceeded', { graceMs });
      process.exit(1);
    }, graceMs);
    timer.unref();
    close()
      .then(() => {
        logger.info('stopped');
        process.exit(0);
      })
      .catch((error: unknown) => {
        logger.event('error', 'shutdown failed', { error });
        process.exit(1);
      });
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}
