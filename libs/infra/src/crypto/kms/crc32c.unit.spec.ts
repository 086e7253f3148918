import { crc32c } from './crc32c';

describe('crc32c', () => {
  it('gives the standard check value for "123456789"', () => {
    expect(crc32c(Buffer.from('123456789', 'ascii'))).toBe(0xe3069283);
  });

  // RFC 3720 (iSCSI), appendix B.4.
  it.each([
    ['32 bytes of zeros', Buffer.alloc(32, 0x00), 0x8a9136aa],
    ['32 bytes of 0xff', Buffer.alloc(32, 0xff), 0x62a8ab43],
    ['32 ascending bytes', Buffer.from(Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e],
    ['32 descending bytes', Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c],
  ])('matches RFC 3720 for %s', (_name, data, expected) => {
    expect(crc32c(data)).toBe(expected);
  });

  it('is 0 for no bytes and always an unsigned 32-bit number', () => {
    expect(crc32c(Buffer.alloc(0))).toBe(0);
    expect(crc32c(Buffer.alloc(32, 0xff))).toBeGreaterThan(0);
  });
});
