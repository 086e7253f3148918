import { createHash } from 'node:crypto';
import { ChainMismatchError } from './audit-errors';
import { canonicalJsonBytes } from './canonical-json';
import { toCanonicalEvent, type CanonicalEvent, type StoredEvent } from './canonical-event';

/**
 * One hash chain per organisation, plus one for platform events (orgId null):
 *
 *   h_0 = 32 zero bytes
 *   h_n = SHA-256(h_(n-1) ‖ canonical(event_n))
 *
 * where h_(n-1) is the 32 raw bytes (not its hex) and canonical(event_n) the UTF-8 bytes of canonical-event.ts.
 * Heads are written as 64 lower-case hex digits. Each head commits to every event before it and to their order,
 * so an edit, an insertion, a deletion or a swap anywhere changes every later head.
 */

export type ChainId = 'platform' | `org:${string}`;

export const PLATFORM_CHAIN: ChainId = 'platform';

/** h_0, hex-encoded. */
export const GENESIS_HEAD = '0'.repeat(64);

export interface ChainState {
  readonly chain: ChainId;
  /** Events in the chain so far; the n of h_n. */
  readonly count: number;
  /** h_count, hex. */
  readonly head: string;
  /** Position of the event h_count covers; null for the empty chain. */
  readonly lastPosition: string | null;
}

/** One event's place in its chain. */
export interface ChainLink {
  readonly event: CanonicalEvent;
  /** 1 for the chain's first event. */
  readonly count: number;
  /** h_count, hex. */
  readonly chainHash: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const HEAD = /^[0-9a-f]{64}$/;

export function chainOf(orgId: string | null): ChainId {
  if (orgId === null) return PLATFORM_CHAIN;
  // A chain id names one organisation in one spelling, or two chains could claim the same events.
  if (!UUID.test(orgId)) throw new ChainMismatchError(`orgId ${JSON.stringify(orgId)} is not a lower-case UUID`);
  return `org:${orgId}`;
}

/** The organisation a chain belongs to; null for the platform chain; undefined if `chain` is no chain id. */
export function orgOfChain(chain: string): string | null | undefined {
  if (chain === PLATFORM_CHAIN) return null;
  const orgId = chain.startsWith('org:') ? chain.slice(4) : undefined;
  return orgId !== undefined && UUID.test(orgId) ? orgId : undefined;
}

export const isHead = (value: unknown): value is string => typeof value === 'string' && HEAD.test(value);

export function emptyChain(chain: ChainId): ChainState {
  return { chain, count: 0, head: GENESIS_HEAD, lastPosition: null };
}

/** h_n from h_(n-1) (hex) and the event's canonical bytes. */
export function nextHead(previousHead: string, canonicalEvent: Uint8Array): string {
  if (!isHead(previousHead)) throw new TypeError('a chain head is 64 lower-case hex digits');
  return createHash('sha256').update(Buffer.from(previousHead, 'hex')).update(canonicalEvent).digest('hex');
}

/**
 * Extends `state` with `events`, which must all belong to its chain and come in the global order, (transaction id,
 * position) ascending, as the sealer reads them. Pure: the caller stores the new state (by compare-and-swap on the
 * old head, so two sealers cannot fork a chain) and, if it keeps them, the links.
 *
 * The order is checked within the batch only: the state keeps the last position, not its transaction id, and
 * positions alone are not ordered (a lower position may commit in a later transaction).
 */
export function extendChain(state: ChainState, events: Iterable<StoredEvent>): { state: ChainState; links: ChainLink[] } {
  assertChainState(state);
  const links: ChainLink[] = [];
  let { count, head, lastPosition } = state;
  let previous: CanonicalEvent | undefined;
  for (const stored of events) {
    const event = toCanonicalEvent(stored);
    if (chainOf(event.orgId) !== state.chain) {
      throw new ChainMismatchError(`the event at position ${event.position} belongs to chain ${chainOf(event.orgId)}, not ${state.chain}`);
    }
    if (event.position === lastPosition || (previous !== undefined && compareGlobalOrder(previous, event) >= 0)) {
      throw new ChainMismatchError(`the event at position ${event.position} does not come after position ${lastPosition ?? '(none)'} in the global order`);
    }
    count += 1;
    head = nextHead(head, canonicalJsonBytes(event));
    lastPosition = event.position;
    previous = event;
    links.push({ event, count, chainHash: head });
  }
  return { state: { chain: state.chain, count, head, lastPosition }, links };
}

/** Negative if `a` comes before `b` in the store's global order: by transaction id, then position. */
export function compareGlobalOrder(
  a: Pick<CanonicalEvent, 'transactionId' | 'position'>,
  b: Pick<CanonicalEvent, 'transactionId' | 'position'>,
): number {
  const byTransaction = compareDecimal(a.transactionId, b.transactionId);
  return byTransaction !== 0 ? byTransaction : compareDecimal(a.position, b.position);
}

/** Canonical decimals (no leading zeros) compare by length first, then digit by digit. */
function compareDecimal(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Throws a TypeError naming what makes `state` no chain state. */
export function assertChainState(state: ChainState): void {
  if (orgOfChain(state.chain) === undefined) throw new TypeError(`${JSON.stringify(state.chain)} is not a chain id`);
  if (!Number.isSafeInteger(state.count) || state.count < 0) throw new TypeError('a chain count is a non-negative safe integer');
  if (!isHead(state.head)) throw new TypeError('a chain head is 64 lower-case hex digits');
  const empty = state.count === 0;
  if (empty !== (state.head === GENESIS_HEAD) || empty !== (state.lastPosition === null)) {
    throw new TypeError('a chain state is empty (count 0, the genesis head, no position) or none of these');
  }
}
