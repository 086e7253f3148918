import { randomUUID } from 'node:crypto';
import type Redis from 'ioredis';
import { CheckpointRefusedError } from './audit-errors';
import type { CheckpointStatement, SignedCheckpoint } from './checkpoint';
import type { ChainId } from './hash-chain';

const TIMEOUT_MS = 5000;

/** What a process asks the sealer to sign: a chain state it sealed (the sealer checks the link at `count`). */
export interface SealedStateRequest {
  readonly chain: ChainId;
  readonly count: number;
  readonly head: string;
  readonly position: string | null;
}

export function signRequestsChannel(prefix: string): string {
  return `${prefix}:audit:sign`;
}
export function signRepliesChannel(prefix: string, id: string): string {
  return `${prefix}:audit:signed:${id}`;
}

/**
 * Asks the sealer — the only process holding the audit key — to sign a checkpoint of a chain state it sealed. The
 * API and the worker can ask, never sign: neither can produce a checkpoint for anything the sealer did not seal.
 */
export class AuditSigningClient {
  private readonly pending = new Map<string, { resolve: (c: SignedCheckpoint) => void; reject: (e: Error) => void }>();
  private ready: Promise<void> | undefined;

  constructor(
    private readonly publisher: Redis,
    private readonly subscriber: Redis,
    private readonly prefix: string,
  ) {}

  private listen(): Promise<void> {
    this.ready ??= (async () => {
      await this.subscriber.psubscribe(signRepliesChannel(this.prefix, '*'));
      this.subscriber.on('pmessage', (_pattern: string, channel: string, message: string) => {
        const id = channel.slice(signRepliesChannel(this.prefix, '').length);
        const waiter = this.pending.get(id);
        if (!waiter) return;
        this.pending.delete(id);
        const reply = JSON.parse(message) as { ok: boolean; checkpoint?: SignedCheckpoint; error?: string };
        if (reply.ok && reply.checkpoint) waiter.resolve(reply.checkpoint);
        else waiter.reject(new CheckpointRefusedError(reply.error ?? 'the sealer refused'));
      });
    })();
    return this.ready;
  }

  async sign(statement: SealedStateRequest): Promise<SignedCheckpoint> {
    await this.listen();
    const id = randomUUID();
    const result = new Promise<SignedCheckpoint>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      setTimeout(() => {
        if (this.pending.delete(id)) reject(new Error('the sealer did not answer'));
      }, TIMEOUT_MS).unref();
    });
    await this.publisher.publish(signRequestsChannel(this.prefix), JSON.stringify({ id, statement }));
    return result;
  }

  /** The signer an export takes: the sealer signs the state the export reached, or refuses. */
  signer(): (statement: CheckpointStatement) => Promise<SignedCheckpoint> {
    return (statement) => this.sign({ chain: statement.chain, count: statement.count, head: statement.head, position: statement.position });
  }

  close(): void {
    this.subscriber.disconnect();
  }
}
