// The codec byte of a stored chunk and what it means (docs/recipe.md):
//   0 raw: the plaintext without its trailing zero bytes
//   1 zstd: one zstd frame of that trimmed plaintext
//   2 gzip: one gzip member of that trimmed plaintext
// A level is fixed for a whole write (the default, or --level) so that a
// chunk's stored bytes, and so its name, depend only on its plaintext (for a
// given libzstd / zlib); chunks written at another level decode the same but
// do not dedup with these. bench/codecs chose zstd level 1: the best ratio
// that still compresses at >= 280 MB/s per core with SHA-256 (smr chunk: 560
// MB/s on 2 cores). bench/store weighs the others on the fixture set: the
// store is 1.04x the registry's gzip layers at 1, 0.96x at 3, 0.86x at 17,
// but 17 and above compress at ~1/30 of level 1's speed (docs/recipe.md).
// gzip, only when asked for, is far slower at any level: level 1, twice as
// fast as 6 for 8% more bytes.
import type { Compression } from './types.js';
import { gunzipBounded, gzipCompress } from './compress-gzip.js';
import { zstdCompress, zstdDecompressChunk } from './compress-zstd.js';

export const CODEC_RAW = 0;
export const CODEC_ZSTD = 1;
export const CODEC_GZIP = 2;

/**
 * Levels a writer may ask for (`--level`). zstd's ultra levels (20-22) only
 * widen the window past a chunk; its negative (fast) levels make bigger
 * stores, and node:zlib takes -1 for "unset", which compresses at 3.
 */
export const LEVEL_RANGE = { zstd: { min: 1, max: 19 }, gzip: { min: 1, max: 9 } } as const;

/** The level used when none is asked for. */
export const DEFAULT_LEVEL = { zstd: 1, gzip: 1 } as const;

/**
 * A compressed body is kept only when it is at least this fraction (16 KiB of
 * 512 KiB) smaller than the raw one. bench/codecs part 2: decoding costs
 * about 1 µs more per KiB saved, a fetch costs ~10 µs per KiB at 100 MB/s, so
 * any real saving pays; below ~3% it is noise, and raw is the simpler body.
 */
export const MIN_SAVING = 1 / 32;

export const DEFAULT_COMPRESSION: Compression = 'zstd';

/**
 * The codec byte and body for a plaintext whose trailing zeros are trimmed,
 * at `level` (checked by the caller against LEVEL_RANGE; default DEFAULT_LEVEL).
 */
export function compressBody(trimmed: Buffer, compression: Compression, level?: number): { codec: number; body: Buffer } {
  if (compression === 'none' || trimmed.length === 0) return { codec: CODEC_RAW, body: trimmed };
  const body = compression === 'zstd' ? zstdCompress(trimmed, level ?? DEFAULT_LEVEL.zstd) : gzipCompress(trimmed, level ?? DEFAULT_LEVEL.gzip);
  if (body.length > trimmed.length * (1 - MIN_SAVING)) return { codec: CODEC_RAW, body: trimmed };
  return { codec: compression === 'zstd' ? CODEC_ZSTD : CODEC_GZIP, body };
}

/** `plain` followed by zeros up to `length` bytes. */
function zeroPadded(plain: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  plain.copy(out);
  return out;
}

/**
 * Decodes a body into the chunk's `length` bytes: the plaintext, then zeros
 * where the body does not reach. Throws on any damage, or when the body
 * would decode to more than `length` bytes.
 */
export function decompressBody(codec: number, body: Buffer, length: number): Buffer {
  switch (codec) {
    case CODEC_RAW:
      if (body.length > length) throw new Error(`raw body of ${body.length} bytes is longer than the chunk (${length})`);
      return zeroPadded(body, length);
    case CODEC_ZSTD:
      return zstdDecompressChunk(body, length);
    case CODEC_GZIP: {
      const plain = gunzipBounded(body, length);
      if (plain.length > length) throw new Error('gzip body decodes to more than the chunk');
      return zeroPadded(plain, length);
    }
    default:
      throw new Error(`unknown codec byte ${codec}`);
  }
}
