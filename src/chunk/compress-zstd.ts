// One-shot zstd for whole chunks, with the libzstd inside Node (node:zlib,
// Node >= 22.15; bin/smr refuses older runtimes). bench/zstd-node measured it
// against the zstd-napi addon used before: as fast to compress, within ~10%
// to decompress, and the same bytes.
//
// A chunk body is exactly one zstd frame that declares its content size (as
// one-pass compression always writes). Nothing is allocated by what a header
// claims: a frame claiming more than the chunk, or followed by anything, is
// refused before any work, and the output is capped at the declared size.
import { constants, zstdCompressSync, zstdDecompressSync } from 'node:zlib';

/** ZSTD_compressBound (zstd.h): the most one frame of `n` bytes can take (at least 64, zlib's smallest chunkSize). */
function compressBound(n: number): number {
  return n + (n >> 8) + (n < 128 << 10 ? ((128 << 10) - n) >> 11 : 0);
}

export function zstdCompress(src: Buffer, level: number): Buffer {
  // An output buffer of compressBound lets libzstd compress in one pass, which
  // declares the content size and gives the same bytes as ZSTD_compress: the
  // names of chunks already stored stay the names of the same plaintext.
  return zstdCompressSync(src, { params: { [constants.ZSTD_c_compressionLevel]: level }, chunkSize: compressBound(src.length) });
}

const MAGIC = 0xfd2fb528;

interface FrameHeader {
  /** Bytes of the frame header (magic included). */
  length: number;
  /** Frame_Content_Size, or undefined when the header does not declare it. */
  contentSize: number | undefined;
  /** Whether a 4-byte content checksum follows the last block. */
  checksum: boolean;
}

/** The frame header at the start of `src` (RFC 8878 3.1.1.1). */
function frameHeader(src: Buffer): FrameHeader {
  if (src.length < 5 || src.readUInt32LE(0) !== MAGIC) throw new Error('not a zstd frame');
  const fhd = src[4]!;
  if (fhd & 0x08) throw new Error('reserved bit set in the zstd frame header');
  const singleSegment = (fhd >> 5) & 1;
  const dictBytes = [0, 1, 2, 4][fhd & 3]!;
  const fcsBytes = [singleSegment, 2, 4, 8][fhd >> 6]!;
  const at = 5 + (singleSegment ? 0 : 1) + dictBytes;
  const length = at + fcsBytes;
  if (src.length < length) throw new Error('truncated zstd frame header');
  const checksum = (fhd & 0x04) !== 0;
  switch (fcsBytes) {
    case 0:
      return { length, contentSize: undefined, checksum };
    case 1:
      return { length, contentSize: src[at]!, checksum };
    case 2:
      return { length, contentSize: src.readUInt16LE(at) + 256, checksum };
    case 4:
      return { length, contentSize: src.readUInt32LE(at), checksum };
    default: {
      const n = src.readBigUInt64LE(at);
      return { length, contentSize: n > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(n), checksum };
    }
  }
}

/** Bytes of the frame at the start of `src`: header, blocks, checksum (RFC 8878 3.1.1). */
function frameLength(src: Buffer, header: FrameHeader): number {
  let at = header.length;
  for (;;) {
    if (src.length < at + 3) throw new Error('truncated zstd block header');
    const h = src.readUIntLE(at, 3);
    const type = (h >> 1) & 3;
    if (type === 3) throw new Error('reserved zstd block type');
    // An RLE block holds one byte however many it stands for.
    at += 3 + (type === 1 ? 1 : h >>> 3);
    if (h & 1) break;
  }
  return at + (header.checksum ? 4 : 0);
}

/** Smallest output buffer asked of zlib: above Buffer's pool (4 KiB), so it is never shared. */
const MIN_OUT = 64 * 1024;

/**
 * Decompresses `src` (one zstd frame) into a chunk of `length` bytes: the
 * frame's content, then zeros. Throws when the frame is damaged, does not
 * declare its size, or does not fit.
 */
export function zstdDecompressChunk(src: Buffer, length: number): Buffer {
  const header = frameHeader(src);
  const size = header.contentSize;
  if (size === undefined) throw new Error('the zstd frame does not declare its content size');
  if (size > length) throw new Error(`the zstd frame holds ${size} bytes, more than the chunk (${length})`);
  const frame = frameLength(src, header);
  if (frame < src.length) throw new Error('data after the zstd frame');
  if (frame > src.length) throw new Error('truncated zstd frame');
  // One output buffer a byte longer than the chunk: zlib stops there without
  // allocating a second one to find that the frame has ended. libzstd itself
  // checks that the blocks yield exactly the declared size.
  const outSize = Math.max(MIN_OUT, length + 1);
  const plain = zstdDecompressSync(src, { maxOutputLength: Math.max(1, size), chunkSize: outSize });
  if (plain.length !== size) throw new Error(`the zstd frame declares ${size} bytes but holds ${plain.length}`);
  // zlib returns the start of the buffer it allocated for this call: the
  // chunk is that buffer with its tail zeroed, which spares a 512 KiB
  // allocation and copy (a fifth of the decode time). Anything else: copy.
  if (plain.byteOffset === 0 && plain.buffer.byteLength === outSize) {
    const out = Buffer.from(plain.buffer, 0, length);
    out.fill(0, size);
    return out;
  }
  const out = Buffer.alloc(length);
  plain.copy(out);
  return out;
}
