import { createHash } from 'node:crypto';
import { ChainMismatchError } from './audit-errors';
import { canonicalEventBytes } from './canonical-event';
import { chainOf, emptyChain, extendChain, GENESIS_HEAD, orgOfChain, PLATFORM_CHAIN } from './hash-chain';
import { eventsOf, ORG_A, ORG_B, syntheticLog } from './testing/audit-test-kit';

const log = syntheticLog(120);
const chainA = chainOf(ORG_A);

describe('the hash chain', () => {
  it('h_n = SHA-256(h_(n-1) as 32 raw bytes ‖ canonical(event)), from 32 zero bytes', () => {
    const [first, second] = eventsOf(log, chainA);
    const h1 = createHash('sha256').update(Buffer.alloc(32)).update(canonicalEventBytes(first!)).digest();
    const h2 = createHash('sha256').update(h1).update(canonicalEventBytes(second!)).digest();
    const { state, links } = extendChain(emptyChain(chainA), [first!, second!]);
    expect(links.map((link) => [link.count, link.chainHash])).toEqual([
      [1, h1.toString('hex')],
      [2, h2.toString('hex')],
    ]);
    expect(state).toEqual({ chain: chainA, count: 2, head: h2.toString('hex'), lastPosition: links[1]!.event.position });
    expect(GENESIS_HEAD).toBe(Buffer.alloc(32).toString('hex'));
  });

  it('one chain per organisation plus one for platform events', () => {
    expect(chainOf(ORG_A)).toBe(`org:${ORG_A}`);
    expect(chainOf(null)).toBe(PLATFORM_CHAIN);
    expect(orgOfChain(chainOf(ORG_B))).toBe(ORG_B);
    expect(orgOfChain(PLATFORM_CHAIN)).toBeNull();
    expect(orgOfChain('org:not-a-uuid')).toBeUndefined();
    expect(() => chainOf(ORG_A.toUpperCase())).toThrow(ChainMismatchError);
  });

  it('extending batch by batch reaches the same head as one batch', () => {
    const events = eventsOf(log, chainA);
    const whole = extendChain(emptyChain(chainA), events).state;
    let state = emptyChain(chainA);
    for (let start = 0; start < events.length; start += 7) state = extendChain(state, events.slice(start, start + 7)).state;
    expect(state).toEqual(whole);
    expect(whole.count).toBe(events.length);
  });

  it('an event of another chain is refused, not silently chained', () => {
    const other = eventsOf(log, chainOf(ORG_B))[0]!;
    expect(() => extendChain(emptyChain(chainA), [other])).toThrow(ChainMismatchError);
    const platform = eventsOf(log, PLATFORM_CHAIN)[0]!;
    expect(() => extendChain(emptyChain(chainA), [platform])).toThrow(ChainMismatchError);
  });

  it('events out of the global order, or repeated, are refused', () => {
    const [first, second] = eventsOf(log, chainA);
    expect(() => extendChain(emptyChain(chainA), [second!, first!])).toThrow(/global order/);
    const once = extendChain(emptyChain(chainA), [first!]).state;
    expect(() => extendChain(once, [first!])).toThrow(/global order/);
  });

  it('an inconsistent state is refused', () => {
    expect(() => extendChain({ chain: chainA, count: 0, head: 'ab'.repeat(32), lastPosition: null }, [])).toThrow(TypeError);
    expect(() => extendChain({ chain: chainA, count: 1, head: GENESIS_HEAD, lastPosition: '1' }, [])).toThrow(TypeError);
  });
});
