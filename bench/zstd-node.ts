// bench/zstd-node: node:zlib's zstd against the zstd-napi addon, for the two
// ways the project uses zstd, so the choice of engine rests on a figure:
//   1. chunks: one-shot, level 1, the distinct non-zero 512 KiB chunks of the
//      images given (compress, and decompress into a chunk-sized buffer),
//      node:zlib through src/chunk/compress-zstd.ts as shipped;
//   2. layers: streaming decompression of those chunks as one level-3 stream
//      fed in 1 MiB pieces (what a registry layer looks like to the reader),
//      node:zlib through src/tar/zstd.ts as shipped.
// Prints MB/s (of plaintext) for each engine and node/addon as a ratio.
// zstd-napi is not a dependency: install it aside and point NODE_PATH there:
//   npm install --prefix /tmp/zn zstd-napi
//   NODE_PATH=/tmp/zn/node_modules node dist/bench/zstd-node.js IMAGE...
import { createRequire } from 'node:module';
import * as zlib from 'node:zlib';
import { zstdCompress, zstdDecompressChunk } from '../src/chunk/compress-zstd.js';
import { zstdDecompressChunks } from '../src/tar/zstd.js';
import { distinctChunks } from './distinct-chunks.js';

const CHUNK = 512 * 1024;
const LEVEL = 1;
const LAYER_LEVEL = 3;
const PIECE = 1 << 20;

interface Napi {
  CCtx: new () => { compress(dst: Uint8Array, src: Uint8Array, level: number): number };
  DCtx: new () => {
    decompress(dst: Uint8Array, src: Uint8Array): number;
    decompressStream(dst: Uint8Array, src: Uint8Array): [number, number, number];
  };
  compressBound(n: number): number;
  versionString(): string;
}

function loadNapi(): Napi | undefined {
  try {
    return createRequire(import.meta.url)('zstd-napi/binding') as Napi;
  } catch {
    return undefined;
  }
}

const images = process.argv.slice(2);
if (images.length === 0) {
  console.error('usage: node dist/bench/zstd-node.js IMAGE...');
  process.exit(2);
}

// --- the chunks: distinct, non-zero, trailing zeros trimmed (as stored) ----
const chunks = distinctChunks(images, CHUNK).chunks.map((b) => {
  let n = b.length;
  while (n > 0 && b[n - 1] === 0) n--;
  return b.subarray(0, n);
});
const plain = chunks.reduce((n, c) => n + c.length, 0);

/**
 * Best time of each case in seconds, over `rounds` rounds that run every case
 * in turn: other work on the machine only slows a run down, and interleaving
 * spreads that over all cases alike.
 */
async function fastest(cases: Record<string, () => void | Promise<void>>, rounds = 15): Promise<Record<string, number>> {
  const best: Record<string, number> = {};
  for (let r = 0; r < rounds; r++) {
    for (const [name, run] of Object.entries(cases)) {
      const t0 = performance.now();
      await run();
      best[name] = Math.min(best[name] ?? Infinity, (performance.now() - t0) / 1000);
    }
  }
  return best;
}
const mbps = (bytes: number, s: number | undefined) => bytes / 1e6 / s!;
const row = (name: string, comp: number, dec: number, digits = 0) =>
  console.log(`${name.padEnd(34)} ${(Number.isNaN(comp) ? '-' : comp.toFixed(digits)).padStart(9)} ${dec.toFixed(digits).padStart(9)}`);

const napi = loadNapi();
console.log(`node ${process.version} (libzstd ${process.versions.zstd}); zstd-napi: ${napi ? `libzstd ${napi.versionString()}` : 'not found (see NODE_PATH above)'}`);
console.log(`${images.join(' ')}: ${chunks.length} distinct non-zero chunks, ${(plain / 1e6).toFixed(1)} MB; one core, best of 15 interleaved rounds`);
console.log('');
console.log(`${'MB/s of plaintext'.padEnd(34)} ${'compress'.padStart(9)} ${'decomp'.padStart(9)}`);

// --- 1. chunks ---------------------------------------------------------------
// node:zlib as the project ships it (src/chunk/compress-zstd.ts); the addon
// as the project used it before: one reused context, into a zeroed chunk.
const nodeOut = chunks.map((c) => zstdCompress(c, LEVEL));
const cases: Record<string, () => void> = {
  'node comp': () => {
    for (const c of chunks) zstdCompress(c, LEVEL);
  },
  'node dec': () => {
    for (const b of nodeOut) zstdDecompressChunk(b, CHUNK);
  },
};
let same: boolean | undefined;
if (napi) {
  const c = new napi.CCtx();
  const d = new napi.DCtx();
  const napiOut = chunks.map((src) => {
    const dst = Buffer.allocUnsafe(napi.compressBound(src.length));
    return dst.subarray(0, c.compress(dst, src, LEVEL));
  });
  same = napiOut.every((b, i) => b.equals(nodeOut[i]!));
  cases['napi comp'] = () => {
    for (const src of chunks) c.compress(Buffer.allocUnsafe(napi.compressBound(src.length)), src, LEVEL);
  };
  cases['napi dec'] = () => {
    for (let i = 0; i < chunks.length; i++) d.decompress(Buffer.alloc(CHUNK).subarray(0, chunks[i]!.length), napiOut[i]!);
  };
}
const t = await fastest(cases);
row(`chunks, level ${LEVEL}: node:zlib`, mbps(plain, t['node comp']), mbps(plain, t['node dec']));
if (napi) {
  row(`chunks, level ${LEVEL}: zstd-napi`, mbps(plain, t['napi comp']), mbps(plain, t['napi dec']));
  row('chunks: node / zstd-napi', t['napi comp']! / t['node comp']!, t['napi dec']! / t['node dec']!, 2);
  console.log(`  (a factor, not MB/s; frames byte-identical: ${same})`);
}
console.log(`  stored/plain at level ${LEVEL}: ${(nodeOut.reduce((n, b) => n + b.length, 0) / plain).toFixed(3)}`);

// --- 2. a layer-like stream ----------------------------------------------------
const all = Buffer.concat(chunks);
const stream = zlib.zstdCompressSync(all, { params: { [zlib.constants.ZSTD_c_compressionLevel]: LAYER_LEVEL } });
const pieces: Buffer[] = [];
for (let i = 0; i < stream.length; i += PIECE) pieces.push(stream.subarray(i, i + PIECE));
console.log('');
console.log(`stream: level ${LAYER_LEVEL}, ${(stream.length / 1e6).toFixed(1)} MB in ${pieces.length} pieces`);
async function* asyncOf(bufs: Buffer[]): AsyncGenerator<Buffer> {
  yield* bufs;
}
const streams: Record<string, () => void | Promise<void>> = {
  // As layers are read: src/tar/zstd.ts, frame cutting included.
  node: async () => {
    let n = 0;
    for await (const b of zstdDecompressChunks(asyncOf(pieces))) n += b.length;
    if (n !== all.length) throw new Error('node:zlib stream: wrong length');
  },
};
if (napi) {
  streams.napi = () => {
    const d = new napi.DCtx();
    let n = 0;
    for (const p of pieces) {
      let s = p;
      for (;;) {
        const dst = Buffer.allocUnsafe(128 * 1024);
        const [, produced, consumed] = d.decompressStream(dst, s);
        s = s.subarray(consumed);
        n += produced;
        if (s.length === 0 && produced < dst.length) break;
      }
    }
    if (n !== all.length) throw new Error('zstd-napi stream: wrong length');
  };
}
const ts = await fastest(streams, 7);
row('stream: node:zlib', NaN, mbps(all.length, ts.node));
if (napi) {
  row('stream: zstd-napi', NaN, mbps(all.length, ts.napi));
  row('stream: node / zstd-napi', NaN, ts.napi! / ts.node!, 2);
}
