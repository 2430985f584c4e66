// One-shot zstd for whole chunks. Compression needs the zstd-napi addon
// (libzstd built from source); decompression uses it when present and fzstd
// (pure JS) otherwise, so a machine without the addon still reads every store.
//
// A chunk body is exactly one zstd frame that declares its content size (as
// libzstd's one-shot compression always writes). Both decoders then write into
// a view of exactly that size: nothing is allocated by what a header claims,
// a frame claiming more than the chunk is refused before any work, and
// neither decoder can scribble past the content (both park literals in the
// unused tail of their output buffer while they work).
import { createRequire } from 'node:module';
import { decompress as fzstdDecompress } from 'fzstd';

export type ZstdDecoder = 'zstd-napi' | 'fzstd';

interface Binding {
  CCtx: new () => { compress(dst: Uint8Array, src: Uint8Array, level: number): number };
  DCtx: new () => { decompress(dst: Uint8Array, src: Uint8Array): number };
  compressBound(size: number): number;
  findFrameCompressedSize(src: Uint8Array): number;
  versionString(): string;
}

interface Loaded {
  b: Binding;
  // Contexts are reused (one per thread): creating one costs more than a chunk.
  c: InstanceType<Binding['CCtx']>;
  d: InstanceType<Binding['DCtx']>;
}

let loaded: Loaded | null | undefined;
function napi(): Loaded | null {
  if (loaded === undefined) {
    loaded = null;
    // SMR_NO_ZSTD_NAPI=1 behaves as a machine where the addon did not build.
    if (process.env.SMR_NO_ZSTD_NAPI !== '1') {
      try {
        const b = createRequire(import.meta.url)('zstd-napi/binding') as Binding;
        loaded = { b, c: new b.CCtx(), d: new b.DCtx() };
      } catch {
        // not installed, or its build failed: decode with fzstd
      }
    }
  }
  return loaded;
}

export function zstdCanCompress(): boolean {
  return napi() !== null;
}

/** libzstd's version, or undefined without the addon (output bytes depend on it). */
export function zstdVersion(): string | undefined {
  return napi()?.b.versionString();
}

export function zstdCompress(src: Buffer, level: number): Buffer {
  const z = napi();
  if (z === null) throw new Error('zstd compression needs the zstd-napi addon');
  const dst = Buffer.allocUnsafe(z.b.compressBound(src.length));
  return dst.subarray(0, z.c.compress(dst, src, level));
}

/** The decoders usable here, preferred first. */
export function zstdDecoders(): ZstdDecoder[] {
  return napi() === null ? ['fzstd'] : ['zstd-napi', 'fzstd'];
}

const MAGIC = 0xfd2fb528;

/**
 * Frame_Content_Size from a zstd frame header (RFC 8878 3.1.1.1), or
 * undefined when the header does not declare it.
 */
export function zstdContentSize(src: Buffer): number | undefined {
  if (src.length < 5 || src.readUInt32LE(0) !== MAGIC) throw new Error('not a zstd frame');
  const fhd = src[4]!;
  if (fhd & 0x08) throw new Error('reserved bit set in the zstd frame header');
  const singleSegment = (fhd >> 5) & 1;
  const fcsFlag = fhd >> 6;
  const dictBytes = [0, 1, 2, 4][fhd & 3]!;
  const fcsBytes = [singleSegment, 2, 4, 8][fcsFlag]!;
  if (fcsBytes === 0) return undefined;
  const at = 5 + (singleSegment ? 0 : 1) + dictBytes;
  if (src.length < at + fcsBytes) throw new Error('truncated zstd frame header');
  switch (fcsBytes) {
    case 1:
      return src[at]!;
    case 2:
      return src.readUInt16LE(at) + 256;
    case 4:
      return src.readUInt32LE(at);
    default: {
      const n = src.readBigUInt64LE(at);
      return n > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(n);
    }
  }
}

/**
 * Decompresses `src` (one zstd frame) into the start of `out` and returns the
 * number of bytes written; leaves the rest of `out` untouched. Throws when
 * the frame is damaged, does not declare its size, or does not fit.
 */
export function zstdDecompressInto(src: Buffer, out: Buffer, decoder: ZstdDecoder = zstdDecoders()[0]!): number {
  const size = zstdContentSize(src);
  if (size === undefined) throw new Error('the zstd frame does not declare its content size');
  if (size > out.length) throw new Error(`the zstd frame holds ${size} bytes, more than the chunk (${out.length})`);
  const view = out.subarray(0, size);
  if (decoder === 'zstd-napi') {
    const z = napi();
    if (z === null) throw new Error('zstd-napi is not loaded');
    if (z.b.findFrameCompressedSize(src) !== src.length) throw new Error('data after the zstd frame');
    // libzstd checks that the frame yields exactly its declared size.
    return z.d.decompress(view, src);
  }
  // fzstd returns its output array; another array means no frame or several.
  // It does not check the declared size against what the blocks hold.
  if (fzstdDecompress(src, view) !== view) throw new Error('not exactly one zstd frame');
  return size;
}
