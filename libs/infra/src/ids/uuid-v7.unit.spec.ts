import { uuidv7 } from './uuid-v7';

describe('uuidv7', () => {
  it('has version 7, the RFC 9562 variant and the timestamp in its first 48 bits', () => {
    const id = uuidv7(0x0190f5a01234);
    expect(id).toMatch(/^0190f5a0-1234-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('is monotonic within one millisecond and across many calls', () => {
    const ids = Array.from({ length: 10_000 }, () => uuidv7(1_700_000_000_000));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
