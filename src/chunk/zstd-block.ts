// One-shot zstd for whole chunks. Compression needs the zstd-napi addon
// (libzstd); decompression uses it when present, else fzstd (pure JS), so a
// machine without the addon can still read every store.
import { createRequire } from 'node:module';
import { decompress as fzstdDecompress } from 'fzstd';

interface Binding {
  CCtx: new () => { compress(dst: Uint8Array, src: Uint8Array, level: number): number };
  DCtx: new () => { decompress(dst: Uint8Array, src: Uint8Array): number };
  compressBound(size: number): number;
}

// Contexts are reused: creating one per chunk costs more than the work.
let binding: { b: Binding; c: InstanceType<Binding['CCtx']>; d: InstanceType<Binding['DCtx']> } | null | undefined;
function napi() {
  if (binding === undefined) {
    try {
      const b = createRequire(import.meta.url)('zstd-napi/binding') as Binding;
      binding = { b, c: new b.CCtx(), d: new b.DCtx() };
    } catch {
      binding = null;
    }
  }
  return binding;
}

export function zstdCanCompress(): boolean {
  return napi() !== null;
}

export function zstdCompress(src: Buffer, level: number): Buffer {
  const b = napi();
  if (!b) throw new Error('zstd compression needs the zstd-napi addon');
  const dst = Buffer.allocUnsafe(b.b.compressBound(src.length));
  const n = b.c.compress(dst, src, level);
  return dst.subarray(0, n);
}

/** Decompresses into at most `max` bytes; more is an error (no zip bombs). */
export function zstdDecompress(src: Buffer, max: number): Buffer {
  const b = napi();
  if (b) {
    const dst = Buffer.alloc(max);
    const n = b.d.decompress(dst, src);
    return dst.subarray(0, n);
  }
  // fzstd writes into a caller-sized buffer and throws when it would overflow.
  const out = fzstdDecompress(src, new Uint8Array(max));
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}
