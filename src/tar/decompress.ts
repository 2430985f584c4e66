// Layer decompression by content, not by media type: registries and tools
// mislabel layers often enough that the first bytes are the better witness.

import { Readable } from 'node:stream';
import { SmrError } from '../util/errors.js';
import { asBuffer, iteratorOf } from './iterate.js';
import { zstdDecompressChunks } from './zstd.js';
import { gzipEngine, type GzipEngine } from './gzip.js';

export type CompressionFormat = 'gzip' | 'zstd' | 'none';

export interface DecompressOptions {
  /** Names the stream in errors, e.g. "layer 2/3 (sha256:abcd…)". */
  what?: string;
  /** Told the format once the first bytes have been seen. */
  onFormat?: (format: CompressionFormat) => void;
  /** The gzip engine to use (default: igzip when installed, else zlib). */
  gzip?: GzipEngine;
}

/** Enough for every magic number below. */
const SNIFF_BYTES = 10;

type Sniffed = CompressionFormat | 'xz' | 'bzip2';

/** The format that `head`, the first bytes of a stream (at most 10 needed), is in. */
export function sniffCompression(head: Uint8Array): Sniffed {
  const b = (i: number) => head[i];
  if (b(0) === 0x1f && b(1) === 0x8b) return 'gzip';
  if (b(0) === 0x28 && b(1) === 0xb5 && b(2) === 0x2f && b(3) === 0xfd) return 'zstd';
  // A stream may open with a skippable frame (magic 0x184D2A50..5F, little-endian).
  if (head.length >= 4 && (b(0)! & 0xf0) === 0x50 && b(1) === 0x2a && b(2) === 0x4d && b(3) === 0x18) return 'zstd';
  if (b(0) === 0xfd && b(1) === 0x37 && b(2) === 0x7a && b(3) === 0x58 && b(4) === 0x5a && b(5) === 0x00) return 'xz';
  // "BZh" + level, then the block magic 0x314159265359; a tar name would not start so.
  const bz = [0x42, 0x5a, 0x68, -1, 0x31, 0x41, 0x59, 0x26, 0x53, 0x59];
  if (head.length >= bz.length && bz.every((v, i) => v < 0 || head[i] === v) && b(3)! >= 0x31 && b(3)! <= 0x39) return 'bzip2';
  return 'none';
}

/**
 * The decompressed chunks of `input` (gzip, zstd, or plain bytes passed
 * through). Corrupt or truncated compressed data throws SmrError
 * DECOMPRESS_FAILED; errors of the input itself come out unchanged.
 */
export async function* decompressChunks(
  input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  opts: DecompressOptions = {},
): AsyncGenerator<Buffer> {
  const what = opts.what ?? 'the stream';
  const it = iteratorOf(input);
  const head: Buffer[] = [];
  let headLen = 0;
  let ended = false;
  try {
    while (headLen < SNIFF_BYTES) {
      const r = await it.next();
      if (r.done) {
        ended = true;
        break;
      }
      const b = asBuffer(r.value, 'decompress');
      if (b.length === 0) continue;
      head.push(b);
      headLen += b.length;
    }
  } catch (e) {
    await it.return?.();
    throw e;
  }
  const format = sniffCompression(head.length === 1 ? head[0]! : Buffer.concat(head));
  if (format === 'xz' || format === 'bzip2') {
    await it.return?.();
    throw new SmrError('DECOMPRESS_UNSUPPORTED', `Cannot decompress ${what}: it is ${format}-compressed; only gzip and zstd layers are supported`);
  }
  opts.onFormat?.(format);

  let inputError: unknown;
  const rest = async function* (): AsyncGenerator<Buffer> {
    yield* head;
    if (ended) return;
    try {
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        yield asBuffer(r.value, 'decompress');
      }
    } catch (e) {
      inputError = e;
      throw e;
    } finally {
      await it.return?.();
    }
  };

  if (format === 'none') {
    yield* rest();
    return;
  }
  const out = format === 'gzip' ? (opts.gzip ?? gzipEngine()).decompress(rest()) : zstdDecompressChunks(rest());
  try {
    yield* out;
  } catch (e) {
    if (e === inputError || e instanceof SmrError) throw e;
    const why = e instanceof Error ? e.message : String(e);
    throw new SmrError('DECOMPRESS_FAILED', `Cannot decompress ${what} (${format}): ${why}`, { cause: e });
  }
}

/** decompressChunks as a Readable stream. */
export function decompressStream(input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, opts: DecompressOptions = {}): Readable {
  return Readable.from(decompressChunks(input, opts), { objectMode: false });
}
