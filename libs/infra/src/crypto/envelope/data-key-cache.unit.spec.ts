import { DataKey, generateDataKey } from './data-key';
import { DataKeyCache } from './data-key-cache';

class Clock {
  ms = 1_700_000_000_000;
  readonly now = (): number => this.ms;
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

describe('DataKeyCache', () => {
  let clock: Clock;
  const v1 = generateDataKey(1);
  const v2 = generateDataKey(2);
  const caches: DataKeyCache[] = [];
  const cache = (ttlSeconds?: number): DataKeyCache => {
    const created = new DataKeyCache({ ...(ttlSeconds === undefined ? {} : { ttlSeconds }), now: clock.now });
    caches.push(created);
    return created;
  };

  beforeEach(() => {
    clock = new Clock();
  });

  afterEach(() => {
    for (const created of caches.splice(0)) created.evictAll();
  });

  it('keeps a plaintext DEK for 30 seconds by default, and not a moment longer', () => {
    const keys = cache();
    expect(keys.ttlSeconds).toBe(30);
    keys.set('org_1', v1);
    clock.advance(29.999);
    expect(keys.get('org_1', 1)).toBe(v1);
    clock.advance(0.001);
    expect(keys.get('org_1', 1)).toBeUndefined();
    expect(keys.size).toBe(0);
  });

  it('counts the age from the unwrap, not from the last use', () => {
    const keys = cache(10);
    keys.set('org_1', v1);
    for (let second = 0; second < 9; second++) {
      clock.advance(1);
      expect(keys.get('org_1', 1)).toBe(v1);
    }
    clock.advance(1);
    expect(keys.get('org_1', 1)).toBeUndefined();
  });

  it('caches nothing with a TTL of 0', async () => {
    const keys = cache(0);
    keys.set('org_1', v1);
    expect(keys.get('org_1', 1)).toBeUndefined();
    const load = jest.fn(async () => v1);
    await keys.getOrLoad('org_1', 1, load);
    await keys.getOrLoad('org_1', 1, load);
    expect(load).toHaveBeenCalledTimes(2);
  });

  it("evict(org) forgets that org's DEKs, every version, and no other org's", () => {
    const keys = cache();
    keys.set('org_1', v1);
    keys.set('org_1', v2);
    keys.set('org_2', v1);
    keys.evict('org_1');
    expect(keys.get('org_1', 1)).toBeUndefined();
    expect(keys.get('org_1', 2)).toBeUndefined();
    expect(keys.get('org_2', 1)).toBe(v1);
  });

  it('evictAll forgets every DEK', () => {
    const keys = cache();
    keys.set('org_1', v1);
    keys.set('org_2', v2);
    keys.evictAll();
    expect(keys.size).toBe(0);
  });

  it('loads once for a burst of concurrent readers, then serves from memory', async () => {
    const keys = cache();
    const load = jest.fn(async () => v1);
    const results = await Promise.all(Array.from({ length: 5 }, () => keys.getOrLoad('org_1', 1, load)));
    expect(results.every((key) => key === v1)).toBe(true);
    await keys.getOrLoad('org_1', 1, load);
    expect(load).toHaveBeenCalledTimes(1);
    clock.advance(30);
    await keys.getOrLoad('org_1', 1, load);
    expect(load).toHaveBeenCalledTimes(2);
  });

  it('a revocation during an unwrap wins: the key it returns is not cached', async () => {
    const keys = cache();
    let finish: (key: DataKey) => void = () => undefined;
    const pending = keys.getOrLoad('org_1', 1, () => new Promise<DataKey>((resolve) => (finish = resolve)));
    keys.evict('org_1');
    const load = jest.fn(async () => v1);
    // A reader after the eviction does not join the older load; it asks the KMS again.
    const fresh = keys.getOrLoad('org_1', 1, load);
    finish(v1);
    await pending;
    await fresh;
    expect(load).toHaveBeenCalledTimes(1);
    expect(keys.size).toBe(1);
    keys.evict('org_1');
    expect(keys.get('org_1', 1)).toBeUndefined();
  });

  it('does not cache a failed load', async () => {
    const keys = cache();
    await expect(keys.getOrLoad('org_1', 1, async () => Promise.reject(new Error('revoked')))).rejects.toThrow('revoked');
    await expect(keys.getOrLoad('org_1', 1, async () => v1)).resolves.toBe(v1);
  });

  it('refuses a loader that returns another version than asked for', async () => {
    const keys = cache();
    await expect(keys.getOrLoad('org_1', 1, async () => v2)).rejects.toThrow(RangeError);
    expect(keys.size).toBe(0);
  });

  it('refuses a negative or infinite TTL', () => {
    expect(() => new DataKeyCache({ ttlSeconds: -1 })).toThrow(RangeError);
    expect(() => new DataKeyCache({ ttlSeconds: Infinity })).toThrow(RangeError);
  });

  describe('with the real clock', () => {
    beforeEach(() => {
      jest.useFakeTimers();
    });

    afterEach(() => {
      jest.useRealTimers();
    });

    it('drops an expired DEK from memory even if nobody reads it again', () => {
      const keys = new DataKeyCache({ ttlSeconds: 30 });
      keys.set('org_1', v1);
      jest.advanceTimersByTime(29_999);
      expect(keys.size).toBe(1);
      jest.advanceTimersByTime(1);
      expect(keys.size).toBe(0);
    });

    it('a replaced entry is not dropped by its predecessor’s timer', () => {
      const keys = new DataKeyCache({ ttlSeconds: 30 });
      keys.set('org_1', v1);
      jest.advanceTimersByTime(20_000);
      keys.set('org_1', v1);
      jest.advanceTimersByTime(10_000);
      expect(keys.get('org_1', 1)).toBe(v1);
      jest.advanceTimersByTime(20_000);
      expect(keys.size).toBe(0);
    });
  });
});
