// Whether a buffer is all zeros: memcmp against a shared zero page run, which
// is far faster than a byte loop (zero chunks are skipped, zero writes kept as
// holes).
const ZEROS = Buffer.alloc(1 << 20);

export function isAllZero(b: Buffer): boolean {
  for (let o = 0; o < b.length; o += ZEROS.length) {
    const n = Math.min(ZEROS.length, b.length - o);
    if (b.compare(ZEROS, 0, n, o, o + n) !== 0) return false;
  }
  return true;
}
