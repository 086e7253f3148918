import { randomUUID } from 'node:crypto';
import type { ChainId, SignedCheckpoint } from '@bastion/infra/audit';
import { signRepliesChannel, signRequestsChannel } from '@bastion/infra/audit-sealer/sealer';
import type Redis from 'ioredis';

const TIMEOUT_MS = 5000;

/**
 * Asks the sealer — the only process holding the audit key — to sign a checkpoint of a chain state it sealed. The
 * API can ask, never sign: it cannot produce a checkpoint for anything the sealer did not seal.
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
        else waiter.reject(new Error(reply.error ?? 'the sealer refused'));
      });
    })();
    return this.ready;
  }

  async sign(statement: { chain: ChainId; count: number; head: string; position: string | null }): Promise<SignedCheckpoint> {
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

  close(): void {
    this.subscriber.disconnect();
  }
}
