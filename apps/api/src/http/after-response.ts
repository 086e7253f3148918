import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { CONFIG, type Config } from '@bastion/infra/config/config';
import type { JsonLogger } from '@bastion/infra/runtime/logger';
import type { Response } from 'express';
import { LOGGER } from '../tokens';

export interface AfterResponseWork {
  /** Names the work in the log line if it fails ("password reset request"). */
  readonly what: string;
  /** Correlates a failure with the request's other log lines. */
  readonly requestId: string;
  /** Strings never to log (a token, an email): blanked, case-insensitively, out of a failure's message. */
  readonly secrets: readonly string[];
  /**
   * Work under the same key runs one at a time, in order (not a secret: it may be kept in memory until the work
   * ends). A burst of requests about one account then appends to its stream one after another, as it would have
   * when each request did its own work before answering. In this process only: another API process may append to
   * the same stream at the same moment, and authz.append_event then makes the later append wait (migration 0023).
   */
  readonly serialKey?: string;
}

/**
 * Work a route does after it has answered, in this process: when the answer must not depend on it, in content or in
 * time (a password-reset request answers before it looks the email up). Not a job queue, on purpose: what the work
 * carries (a reset token) never leaves the process's memory. The price: work in flight when the process dies is lost,
 * so shutdown waits for it (up to the grace period), and a failure is logged, never thrown (no unhandled rejection).
 */
@Injectable()
export class AfterResponse implements OnApplicationShutdown {
  readonly #pending = new Set<Promise<void>>();
  readonly #lastOf = new Map<string, Promise<void>>();

  constructor(
    @Inject(LOGGER) private readonly logger: JsonLogger,
    @Inject(CONFIG) private readonly config: Config,
  ) {}

  /** Starts `work` once the response has been handed to the client (or the client has gone away). */
  run(res: Response, about: AfterResponseWork, work: () => Promise<void>): void {
    const answered = new Promise<void>((resolve) => {
      if (res.writableFinished || res.destroyed) return resolve();
      res.once('finish', resolve);
      res.once('close', resolve);
    });
    const key = about.serialKey;
    const before = key === undefined ? undefined : this.#lastOf.get(key); // never rejects: failures are caught below
    const done: Promise<void> = Promise.all([answered, before])
      .then(work)
      .catch((error: unknown) => this.report(about, error))
      .finally(() => {
        this.#pending.delete(done);
        if (key !== undefined && this.#lastOf.get(key) === done) this.#lastOf.delete(key);
      });
    this.#pending.add(done);
    if (key !== undefined) this.#lastOf.set(key, done);
  }

  /** How much work is started or waiting to start. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Resolves once no work is in flight, including work started while it waits. */
  async drain(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }

  /**
   * After the HTTP server has closed (Nest closes it before the shutdown hooks, and this module's run before the
   * global infrastructure's, which closes the pools): no new work can start, and the work in flight still has its
   * database and mailer. Bounded by SHUTDOWN_GRACE_MS so a hung mail server cannot hold shutdown forever.
   */
  async onApplicationShutdown(): Promise<void> {
    if (this.#pending.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timed-out'>((resolve) => {
      timer = setTimeout(() => resolve('timed-out'), this.config.SHUTDOWN_GRACE_MS);
      timer.unref();
    });
    const outcome = await Promise.race([this.drain().then(() => 'drained' as const), timedOut]);
    clearTimeout(timer);
    if (outcome === 'timed-out') this.logger.event('error', 'after response: shutdown did not wait for unfinished work', { pending: this.#pending.size });
  }

  private report(about: AfterResponseWork, error: unknown): void {
    try {
      const { name, message, code } = error instanceof Error ? (error as Error & { code?: unknown }) : { name: typeof error, message: String(error), code: undefined };
      this.logger.event('error', `after response: ${about.what} failed`, {
        requestId: about.requestId,
        // `kind`, not `code`: the logger blanks keys ending in "code".
        error: { name, kind: code, message: blank(message, about.secrets) },
      });
    } catch {
      // A failing logger must not turn into an unhandled rejection either.
    }
  }
}

function blank(text: string, secrets: readonly string[]): string {
  return secrets
    .filter((s) => s.length > 0)
    .reduce((out, secret) => out.replace(new RegExp(secret.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gi'), '[redacted]'), text);
}
