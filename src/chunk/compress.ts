// The codec byte of a stored chunk and what it means (docs/recipe.md):
//   0 raw: the plaintext without its trailing zero bytes
//   1 zstd: one zstd frame of that trimmed plaintext
//   2 gzip: one gzip member of that trimmed plaintext
// Levels are fixed so that a chunk's stored bytes, and so its name, depend
// only on its plaintext (for a given libzstd / zlib). bench/codecs chose zstd
// level 1: the best ratio that still compresses at >= 280 MB/s per core with
// SHA-256 (smr chunk: 560 MB/s on 2 cores); level 3 is 9% smaller, 40% slower.
// gzip, only when asked for, is far slower at any level: level 1, twice as
// fast as 6 for 8% more bytes.
import type { Compression } from './types.js';
import { gunzipBounded, gzipCompress } from './compress-gzip.js';
import { zstdCompress, zstdDecompressInto } from './compress-zstd.js';

export const CODEC_RAW = 0;
export const CODEC_ZSTD = 1;
export const CODEC_GZIP = 2;

export const COMPRESSION_LEVEL = { zstd: 1, gzip: 1 } as const;

/**
 * A compressed body is kept only when it is at least this fraction (16 KiB of
 * 512 KiB) smaller than the raw one. bench/codecs part 2: decoding costs
 * about 1 µs more per KiB saved, a fetch costs ~10 µs per KiB at 100 MB/s, so
 * any real saving pays; below ~3% it is noise, and raw is the simpler body.
 */
export const MIN_SAVING = 1 / 32;

export const DEFAULT_COMPRESSION: Compression = 'zstd';

/** The codec byte and body for a plaintext whose trailing zeros are trimmed. */
export function compressBody(trimmed: Buffer, compression: Compression): { codec: number; body: Buffer } {
  if (compression === 'none' || trimmed.length === 0) return { codec: CODEC_RAW, body: trimmed };
  const body = compression === 'zstd' ? zstdCompress(trimmed, COMPRESSION_LEVEL.zstd) : gzipCompress(trimmed, COMPRESSION_LEVEL.gzip);
  if (body.length > trimmed.length * (1 - MIN_SAVING)) return { codec: CODEC_RAW, body: trimmed };
  return { codec: compression === 'zstd' ? CODEC_ZSTD : CODEC_GZIP, body };
}

/**
 * Decodes a body into `out` (zero-filled, the chunk's logical length); what
 * the body does not cover stays zero. Throws on any damage, or when the body
 * would decode to more than `out` holds.
 */
export function decompressInto(codec: number, body: Buffer, out: Buffer): void {
  switch (codec) {
    case CODEC_RAW:
      if (body.length > out.length) throw new Error(`raw body of ${body.length} bytes is longer than the chunk (${out.length})`);
      body.copy(out);
      return;
    case CODEC_ZSTD:
      zstdDecompressInto(body, out);
      return;
    case CODEC_GZIP: {
      const plain = gunzipBounded(body, out.length);
      if (plain.length > out.length) throw new Error('gzip body decodes to more than the chunk');
      plain.copy(out);
      return;
    }
    default:
      throw new Error(`unknown codec byte ${codec}`);
  }
}
