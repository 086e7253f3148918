import { ed25519Thumbprint, type AuditKey } from '../audit-keys';
import { toCanonicalEvent, type StoredEvent } from '../canonical-event';
import { signCheckpoint, checkpointOf, type SignedCheckpoint } from '../checkpoint';
import { auditExportJsonl, type AuditExportOptions } from '../export-format';
import { chainOf, compareGlobalOrder, emptyChain, extendChain, type ChainId, type ChainState } from '../hash-chain';

/** Fixtures for the audit trail: a deterministic event log, a simulated sealer, and exports as arrays of lines. */

export const T0 = new Date('2026-11-25T12:00:00.000Z');
export const at = (seconds: number): Date => new Date(T0.getTime() + seconds * 1000);

export const ORG_A = '0193a1f0-0000-7000-8000-00000000000a';
export const ORG_B = '0193a1f0-0000-7000-8000-00000000000b';

/** mulberry32: the same "random" log on every run, so a failure can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TYPES = ['TaskCreated', 'TaskAssigned', 'MergeRequestOpened', 'MergeRequestApproved', 'EscalationRaised', 'LlmCallCompleted'];

/**
 * `total` events over ORG_A, ORG_B and the platform chain, in the store's global order, rows as `pg` returns them.
 * Transactions interleave their inserts, so positions do not ascend in global order (a transaction that started
 * first commits first but may hold a higher position): the chains must follow (transaction id, position).
 */
export function syntheticLog(total: number, seed = 8785): StoredEvent[] {
  const next = random(seed);
  const hex = (length: number) => Array.from({ length }, () => Math.floor(next() * 16).toString(16)).join('');
  const uuid = () => `${hex(8)}-${hex(4)}-7${hex(3)}-8${hex(3)}-${hex(12)}`;
  const events: StoredEvent[] = [];
  const revisions = new Map<string, number>();
  let position = 0;
  let transactionId = 5_000;
  while (events.length < total) {
    // Two transactions open at once, inserting in turns; the lower transaction id sorts first whatever its positions.
    const open = [0, 1].map(() => {
      const roll = next();
      const orgId = roll < 0.45 ? ORG_A : roll < 0.9 ? ORG_B : null;
      return { transactionId: ++transactionId, orgId, streamId: `${orgId === null ? 'user' : 'task'}-${uuid()}`, size: 1 + Math.floor(next() * 3) };
    });
    for (let turn = 0; turn < 3; turn++) {
      for (const transaction of open) {
        if (turn >= transaction.size || events.length >= total) continue;
        position += 1;
        const revision = revisions.get(transaction.streamId) ?? 0;
        revisions.set(transaction.streamId, revision + 1);
        const recordedAt = new Date(T0.getTime() + position * 1_000);
        const micros = String(Math.floor(next() * 1_000_000)).padStart(6, '0');
        events.push({
          position: String(position),
          transactionId: String(transaction.transactionId),
          id: uuid(),
          streamId: transaction.streamId,
          revision: String(revision),
          type: TYPES[Math.floor(next() * TYPES.length)]!,
          orgId: transaction.orgId,
          data: {
            title: { ciphertext: Buffer.from(hex(48), 'hex').toString('base64url'), keyVersion: 3 },
            priority: Math.floor(next() * 5),
            ratio: Math.round(next() * 1e6) / 1e3,
            labels: ['ä', 'x\u2028y', '😀'].slice(0, 1 + Math.floor(next() * 3)),
            done: next() < 0.5,
            parent: null,
          },
          metadata: {
            orgId: transaction.orgId,
            actor: { type: next() < 0.5 ? 'human' : 'agent', id: uuid() },
            authMethod: 'pwd',
            sessionId: uuid(),
            correlationId: uuid(),
            causationId: null,
            requestId: uuid(),
            ip: { ciphertext: Buffer.from(hex(32), 'hex').toString('base64url') },
            userAgent: null,
            occurredAt: recordedAt.toISOString(),
            schemaVersion: 1,
          },
          // PostgreSQL's own text for timestamptz in a session at UTC+01: the canonical form turns it into UTC.
          recordedAt: `${new Date(recordedAt.getTime() + 3_600_000).toISOString().slice(0, 19).replace('T', ' ')}.${micros}+01`,
        });
      }
    }
  }
  return events.sort((a, b) => compareGlobalOrder(toCanonicalEvent(a), toCanonicalEvent(b)));
}

export interface SealedChain {
  readonly state: ChainState;
  readonly checkpoints: SignedCheckpoint[];
}

/**
 * What the sealer does, without a database: reads the log in global order in batches, extends each event's chain,
 * and signs a checkpoint of a chain every `every` events of it.
 */
export function seal(log: readonly StoredEvent[], key: AuditKey, options: { every: number; batch?: number; issuedAt?: Date }): Map<ChainId, SealedChain> {
  const chains = new Map<ChainId, SealedChain>();
  const batchSize = options.batch ?? 25;
  for (let start = 0; start < log.length; start += batchSize) {
    const byChain = new Map<ChainId, StoredEvent[]>();
    for (const event of log.slice(start, start + batchSize)) {
      const chain = chainOf(event.orgId);
      byChain.set(chain, [...(byChain.get(chain) ?? []), event]);
    }
    for (const [chain, events] of byChain) {
      const sealed = chains.get(chain) ?? { state: emptyChain(chain), checkpoints: [] };
      let { state } = sealed;
      const checkpoints = [...sealed.checkpoints];
      for (const event of events) {
        state = extendChain(state, [event]).state;
        if (state.count % options.every === 0) {
          checkpoints.push(signCheckpoint(checkpointOf(state, options.issuedAt ?? at(-60)), key));
        }
      }
      chains.set(chain, { state, checkpoints });
    }
  }
  return chains;
}

export const eventsOf = (log: readonly StoredEvent[], chain: ChainId): StoredEvent[] => log.filter((event) => chainOf(event.orgId) === chain);

/** An export as the lines a reader would split it into. */
export async function exportToLines(options: AuditExportOptions): Promise<string[]> {
  const lines: string[] = [];
  for await (const chunk of auditExportJsonl(options)) lines.push(chunk.slice(0, -1));
  return lines;
}

/**
 * The public half of the RFC 8032 §7.1 TEST 1 key (also RFC 8037's example). Only the public key is kept in the
 * repository: tests verify the RFCs' published signatures with it, and every key that signs is generated at run time.
 */
export const RFC8032_TEST1_PUBLIC_X = Buffer.from('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', 'hex').toString('base64url');

export function rfc8032PublicKey(createdAt: Date = T0): AuditKey {
  const x = RFC8032_TEST1_PUBLIC_X;
  const kid = ed25519Thumbprint(x);
  return { kid, publicJwk: { kty: 'OKP', crv: 'Ed25519', x, kid, alg: 'EdDSA', use: 'sig' }, createdAt };
}

/** Lines of a parsed JSONL export, for editing in tests. */
export const parseLine = (line: string): Record<string, unknown> => JSON.parse(line) as Record<string, unknown>;
