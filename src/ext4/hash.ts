// The directory-index hash of ext4 (half-MD4 over the name, seeded by the
// superblock's s_hash_seed), as the kernel computes it to look names up in an
// htree. The writer must agree with the kernel bit for bit, or lookups miss.

const K2 = 0o13240474631;
const K3 = 0o15666365641;

function rotl(x: number, s: number): number {
  return ((x << s) | (x >>> (32 - s))) >>> 0;
}

function halfMd4(buf: Uint32Array, inp: Uint32Array): void {
  let a = buf[0]!, b = buf[1]!, c = buf[2]!, d = buf[3]!;
  const F = (x: number, y: number, z: number) => (z ^ (x & (y ^ z))) >>> 0;
  const G = (x: number, y: number, z: number) => (((x & y) >>> 0) + (((x ^ y) & z) >>> 0)) >>> 0;
  const H = (x: number, y: number, z: number) => (x ^ y ^ z) >>> 0;
  const x = (i: number, k: number) => (inp[i]! + k) >>> 0;
  // Round 1
  a = rotl((a + F(b, c, d) + x(0, 0)) >>> 0, 3);
  d = rotl((d + F(a, b, c) + x(1, 0)) >>> 0, 7);
  c = rotl((c + F(d, a, b) + x(2, 0)) >>> 0, 11);
  b = rotl((b + F(c, d, a) + x(3, 0)) >>> 0, 19);
  a = rotl((a + F(b, c, d) + x(4, 0)) >>> 0, 3);
  d = rotl((d + F(a, b, c) + x(5, 0)) >>> 0, 7);
  c = rotl((c + F(d, a, b) + x(6, 0)) >>> 0, 11);
  b = rotl((b + F(c, d, a) + x(7, 0)) >>> 0, 19);
  // Round 2
  a = rotl((a + G(b, c, d) + x(1, K2)) >>> 0, 3);
  d = rotl((d + G(a, b, c) + x(3, K2)) >>> 0, 5);
  c = rotl((c + G(d, a, b) + x(5, K2)) >>> 0, 9);
  b = rotl((b + G(c, d, a) + x(7, K2)) >>> 0, 13);
  a = rotl((a + G(b, c, d) + x(0, K2)) >>> 0, 3);
  d = rotl((d + G(a, b, c) + x(2, K2)) >>> 0, 5);
  c = rotl((c + G(d, a, b) + x(4, K2)) >>> 0, 9);
  b = rotl((b + G(c, d, a) + x(6, K2)) >>> 0, 13);
  // Round 3
  a = rotl((a + H(b, c, d) + x(3, K3)) >>> 0, 3);
  d = rotl((d + H(a, b, c) + x(7, K3)) >>> 0, 9);
  c = rotl((c + H(d, a, b) + x(2, K3)) >>> 0, 11);
  b = rotl((b + H(c, d, a) + x(6, K3)) >>> 0, 15);
  a = rotl((a + H(b, c, d) + x(1, K3)) >>> 0, 3);
  d = rotl((d + H(a, b, c) + x(5, K3)) >>> 0, 9);
  c = rotl((c + H(d, a, b) + x(0, K3)) >>> 0, 11);
  b = rotl((b + H(c, d, a) + x(4, K3)) >>> 0, 15);
  buf[0] = (buf[0]! + a) >>> 0;
  buf[1] = (buf[1]! + b) >>> 0;
  buf[2] = (buf[2]! + c) >>> 0;
  buf[3] = (buf[3]! + d) >>> 0;
}

/**
 * Packs up to num*4 bytes of the name into num words, padded with a pattern
 * made of the remaining length (the kernel's str2hashbuf, unsigned chars).
 */
function nameToWords(name: Uint8Array, start: number, len: number, out: Uint32Array, num: number): void {
  let pad = (len | (len << 8)) >>> 0;
  pad = (pad | (pad << 16)) >>> 0;
  let val = pad;
  const n = Math.min(len, num * 4);
  let w = 0;
  for (let i = 0; i < n; i++) {
    if (i % 4 === 0) val = pad;
    val = (name[start + i]! + ((val << 8) >>> 0)) >>> 0;
    if (i % 4 === 3) {
      out[w++] = val;
      val = pad;
      num--;
    }
  }
  if (--num >= 0) out[w++] = val;
  while (--num >= 0) out[w++] = pad;
}

const DEFAULT_SEED = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];
const EOF_32 = 0x7fffffff;

/** Major hash (even; bit 0 is the htree collision flag) of a name. */
export function dirHash(name: Uint8Array, seed: Uint32Array): number {
  const buf = new Uint32Array(4);
  const seeded = seed.some((w) => w !== 0);
  for (let i = 0; i < 4; i++) buf[i] = seeded ? seed[i]! : DEFAULT_SEED[i]!;
  const words = new Uint32Array(8);
  let len = name.length;
  let p = 0;
  // An empty name is never hashed by the kernel (names have >= 1 byte).
  while (len > 0) {
    nameToWords(name, p, len, words, 8);
    halfMd4(buf, words);
    len -= 32;
    p += 32;
  }
  let hash = buf[1]! & ~1;
  hash >>>= 0;
  if (hash === (EOF_32 << 1) >>> 0) hash = ((EOF_32 - 1) << 1) >>> 0;
  return hash;
}

/** Reads s_hash_seed as the kernel does: four little-endian words. */
export function seedWords(seed16: Buffer): Uint32Array {
  const w = new Uint32Array(4);
  for (let i = 0; i < 4; i++) w[i] = seed16.readUInt32LE(i * 4);
  return w;
}
