/**
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum Google Cloud KMS uses for its integrity
 * fields. Written here rather than installed: it is a table and a loop, and a native package would be one more
 * thing to build on every machine. Speed does not matter: the inputs are 32-byte DEKs and short AADs.
 */
const TABLE = ((): Uint32Array => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** The CRC32C of `data` as an unsigned 32-bit number (0 … 2³²−1). */
export function crc32c(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
