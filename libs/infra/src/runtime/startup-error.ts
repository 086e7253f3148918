import { ConfigError } from '../config/config';
import { redactUrl } from '../database/role-urls';

/** A start-up failure the operator can act on, said in one sentence. */
export class StartupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StartupError';
  }
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ECONNRESET']);

/** Wraps a failed connection in a sentence naming the service and where it was looked for. */
export function unreachable(service: string, url: string, error: unknown): StartupError {
  const e = error as { code?: string; message?: string };
  const why = e.code && NETWORK_CODES.has(e.code) ? `${e.code}` : (e.message ?? String(error));
  return new StartupError(`${service} is not reachable at ${redactUrl(url)} (${why}).`, { cause: error });
}

/**
 * Runs a process's main function. Known start-up failures print one clear line to stderr and exit 1; anything
 * else is a bug and keeps its stack.
 */
export function runMain(service: string, main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    if (error instanceof ConfigError || error instanceof StartupError) {
      process.stderr.write(`${service}: ${error.message}\n`);
    } else {
      process.stderr.write(`${service}: unexpected failure during start-up\n${(error as Error)?.stack ?? String(error)}\n`);
    }
    process.exit(1);
  });
}
