// Streaming zstd decompression of layers, with the libzstd inside Node
// (node:zlib, Node >= 22.15). bench/zstd-node measured it within ~10% of the
// zstd-napi addon used before. Concatenated and skippable frames are read
// (cut at frame ends first, zstd-frames.ts), content checksums verified.

import { constants, createZstdDecompress } from 'node:zlib';
import { through } from './through.js';
import { cutAtFrameEnds } from './zstd-frames.js';

/** Output buffer size (ZSTD_DStreamOutSize is 128 KiB). */
const OUT_CHUNK = 128 * 1024;

/**
 * Largest window accepted: 512 MiB, as containerd's Go decoder allows by
 * default (libzstd's own default is 128 MiB, too small for `zstd --long=29`).
 */
const WINDOW_LOG_MAX = 29;

/** Decompressed chunks of `src`; throws on corrupt or truncated input. */
export async function* zstdDecompressChunks(src: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  yield* through(cutAtFrameEnds(src), createZstdDecompress({ chunkSize: OUT_CHUNK, params: { [constants.ZSTD_d_windowLogMax]: WINDOW_LOG_MAX } }));
}
