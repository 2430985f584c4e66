// bench/codecs: which chunk codec, at which level, and when to keep a chunk
// raw. Over the distinct non-zero chunks of the images given (what a store
// holds), one core, in this thread:
//   1. every candidate codec: stored bytes, compress and decompress MB/s
//      (MB of plaintext per second);
//   2. the raw fallback threshold for the default codec;
//   3. the whole encodeChunk/decodeChunk path (hashing, encryption) as shipped.
// Run: node dist/bench/codecs.js [--chunk-size 512K] [--quick] IMAGE...
// lz4 rows appear when lz4-napi, lz4-wasm-nodejs or lz4js resolve (e.g.
// `npm install --prefix /tmp/lz4 lz4-wasm-nodejs lz4js lz4-napi` and
// NODE_PATH=/tmp/lz4/node_modules); the project does not depend on them.
import { createHash, randomFillSync } from 'node:crypto';
import { createRequire } from 'node:module';
import { brotliCompressSync, brotliDecompressSync, constants } from 'node:zlib';
import { decodeChunk, DEFAULT_COMPRESSION, encodeChunk } from '../src/chunk/codec.js';
import { DEFAULT_LEVEL, MIN_SAVING } from '../src/chunk/compress.js';
import { gunzipBounded, gzipCompress } from '../src/chunk/compress-gzip.js';
import { zstdCompress, zstdDecompressChunk } from '../src/chunk/compress-zstd.js';
import type { Compression, Encryption } from '../src/chunk/types.js';
import { distinctChunks } from './distinct-chunks.js';

interface Candidate {
  name: string;
  enc: (b: Buffer) => Uint8Array;
  /** Decodes into exactly n bytes (the chunk's length, zero-padded). */
  dec: (b: Uint8Array, n: number) => Uint8Array;
}

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const csArg = args.indexOf('--chunk-size');
const chunkSize = csArg >= 0 ? Number.parseInt(args[csArg + 1]!, 10) * 1024 : 512 * 1024;
const images = args.filter((a, i) => !a.startsWith('--') && (csArg < 0 || i !== csArg + 1));
if (images.length === 0) {
  console.error('usage: node dist/bench/codecs.js [--chunk-size KiB] [--quick] IMAGE...');
  process.exit(2);
}

function trimmed(b: Buffer): Buffer {
  let n = b.length;
  while (n > 0 && b[n - 1] === 0) n--;
  return b.subarray(0, n);
}

function padded(src: Uint8Array, n: number): Buffer {
  const out = Buffer.alloc(n);
  out.set(src.subarray(0, n));
  return out;
}

// --- the chunks: distinct, non-zero ------------------------------------------
const { chunks, all: allChunks, zero: zeroChunks } = distinctChunks(images, chunkSize);
const plainBytes = chunks.reduce((n, c) => n + c.length, 0);
const mb = (n: number) => n / 1e6;

// --- candidates --------------------------------------------------------------
const candidates: Candidate[] = [{ name: 'raw, zeros trimmed', enc: (b) => trimmed(b), dec: (b, n) => padded(b, n) }];
for (const l of quick ? [-1, 1, 3] : [-5, -1, 1, 3, 6, 9, 19]) {
  candidates.push({
    name: `zstd ${l}`,
    enc: (b) => zstdCompress(trimmed(b), l),
    dec: (b, n) => zstdDecompressChunk(Buffer.from(b.buffer, b.byteOffset, b.length), n),
  });
}
for (const l of [1, 6]) {
  candidates.push({ name: `gzip ${l}`, enc: (b) => gzipCompress(trimmed(b), l), dec: (b, n) => padded(gunzipBounded(Buffer.from(b.buffer, b.byteOffset, b.length), n), n) });
}
for (const q of quick ? [1, 3] : [1, 2, 3, 4, 5]) {
  candidates.push({
    name: `brotli ${q}`,
    enc: (b) => brotliCompressSync(trimmed(b), { params: { [constants.BROTLI_PARAM_QUALITY]: q, [constants.BROTLI_PARAM_SIZE_HINT]: b.length } }),
    dec: (b, n) => padded(brotliDecompressSync(b, { maxOutputLength: n }), n),
  });
}
// Optional lz4 implementations, found through NODE_PATH; none is a dependency.
const req = createRequire(import.meta.url);
function optional<T>(name: string): T | undefined {
  try {
    return req(name) as T;
  } catch {
    return undefined;
  }
}
const lz4napi = optional<{ compressSync(b: Buffer): Buffer; uncompressSync(b: Uint8Array): Buffer }>('lz4-napi');
if (lz4napi) candidates.push({ name: 'lz4 (lz4-napi, native)', enc: (b) => lz4napi.compressSync(trimmed(b)), dec: (b, n) => padded(lz4napi.uncompressSync(b), n) });
const lz4wasm = optional<{ compress(b: Uint8Array): Uint8Array; decompress(b: Uint8Array): Uint8Array }>('lz4-wasm-nodejs');
if (lz4wasm) candidates.push({ name: 'lz4 (lz4-wasm-nodejs, WASM)', enc: (b) => lz4wasm.compress(trimmed(b)), dec: (b, n) => padded(lz4wasm.decompress(b), n) });
const lz4js = optional<{ compress(b: Uint8Array): Uint8Array; decompress(b: Uint8Array, max?: number): Uint8Array }>('lz4js');
if (lz4js) candidates.push({ name: 'lz4 (lz4js, pure JS)', enc: (b) => lz4js.compress(trimmed(b)), dec: (b, n) => padded(lz4js.decompress(b, n), n) });

// --- 1. candidates -------------------------------------------------------------
const col = (s: string | number, w: number) => String(s).padStart(w);

/** Best of several runs (other work on the machine only slows a run down). */
function fastest<T>(run: () => T): { value: T; seconds: number } {
  let best = Infinity;
  let value: T;
  const started = performance.now();
  let runs = 0;
  do {
    const t0 = performance.now();
    value = run();
    best = Math.min(best, (performance.now() - t0) / 1000);
    runs++;
  } while (runs < 3 && performance.now() - started < (quick ? 1000 : 4000));
  return { value: value!, seconds: best };
}

console.log(`images: ${images.join(' ')}`);
console.log(`chunks of ${chunkSize / 1024} KiB: ${allChunks} in all, ${zeroChunks} all-zero, ${chunks.length} distinct non-zero (${mb(plainBytes).toFixed(1)} MB)`);
console.log(`libzstd ${process.versions.zstd}, node ${process.version}, one core, best of up to 3 runs`);
console.log('');
console.log(`${'codec'.padEnd(30)} ${col('stored MB', 10)} ${col('ratio', 6)} ${col('comp MB/s', 10)} ${col('dec MB/s', 9)} ${col('dec µs/chunk', 12)}`);
const results = new Map<string, Uint8Array[]>();
for (const c of candidates) {
  const { value: enc, seconds: ct } = fastest(() => chunks.map((b) => c.enc(b)));
  const { seconds: dt } = fastest(() => {
    for (let i = 0; i < enc.length; i++) c.dec(enc[i]!, chunks[i]!.length);
  });
  // Sanity: every candidate must give the chunk back.
  for (let i = 0; i < enc.length; i += 7) if (!Buffer.from(c.dec(enc[i]!, chunks[i]!.length)).equals(chunks[i]!)) throw new Error(`${c.name} does not round-trip`);
  results.set(c.name, enc);
  const stored = enc.reduce((n, b) => n + b.length + 1, 0); // + the codec byte
  console.log(
    `${c.name.padEnd(30)} ${col(mb(stored).toFixed(1), 10)} ${col((stored / plainBytes).toFixed(3), 6)} ${col((mb(plainBytes) / ct).toFixed(0), 10)} ${col((mb(plainBytes) / dt).toFixed(0), 9)} ${col(((dt * 1e6) / chunks.length).toFixed(0), 12)}`,
  );
}

// --- 2. when to keep a chunk raw -------------------------------------------------
// A chunk stays raw when compression saves less than MIN_SAVING of it. What a
// small saving costs: chunks made of the images' own 4 KiB blocks, a share of
// them replaced by random bytes (as compressed files inside an image are),
// give the saving and the extra decode time at each compressibility.
const level = DEFAULT_LEVEL[DEFAULT_COMPRESSION === 'zstd' ? 'zstd' : 'gzip'];
const dfltName = `${DEFAULT_COMPRESSION} ${level}`;
const dfltEnc = results.get(dfltName);
if (dfltEnc) {
  const bins = [0, 1 / 64, 1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2, 1];
  const counts = bins.slice(1).map(() => 0);
  chunks.forEach((b, i) => {
    const raw = trimmed(b).length;
    const saving = 1 - dfltEnc[i]!.length / raw;
    const k = bins.findIndex((x, j) => j > 0 && saving < x);
    if (k > 0) counts[k - 1]!++;
  });
  console.log('');
  console.log(`${dfltName}: chunks of the images by saving (1 - compressed/raw)`);
  console.log(bins.slice(1).map((x, j) => `< ${x === 1 ? '1' : `1/${1 / x}`}: ${counts[j]}`).join(', '));
  console.log('');
  console.log(`${dfltName} on graded chunks (share of 4 KiB blocks random): saving and decode time against raw`);
  console.log(`${'random'.padEnd(8)} ${col('saving', 8)} ${col('KiB saved', 10)} ${col('raw dec µs', 11)} ${col(`${dfltName} dec µs`, 14)} ${col('extra µs per KiB saved', 24)}`);
  const block = 4096;
  const source = chunks.slice(0, 64);
  for (const share of [0, 0.5, 0.8, 0.9, 0.95, 0.98, 1]) {
    const graded = source.map((b) => {
      const g = Buffer.from(b);
      for (let o = 0; o + block <= g.length; o += block) if (Math.random() < share) randomFillSync(g, o, block);
      return g;
    });
    const z = graded.map((g) => zstdCompress(trimmed(g), level));
    const raws = graded.map((g) => trimmed(g));
    const saved = raws.reduce((n, r, i) => n + r.length - z[i]!.length, 0) / graded.length;
    const rawT = fastest(() => raws.forEach((r, i) => padded(r, graded[i]!.length))).seconds;
    const zT = fastest(() => z.forEach((c, i) => zstdDecompressChunk(c, graded[i]!.length))).seconds;
    const per = (s: number) => (s * 1e6) / graded.length;
    const savedShare = saved / (raws.reduce((n, r) => n + r.length, 0) / graded.length);
    console.log(
      `${`${Math.round(share * 100)}%`.padEnd(8)} ${col(`${(savedShare * 100).toFixed(1)}%`, 8)} ${col((saved / 1024).toFixed(1), 10)} ${col(per(rawT).toFixed(0), 11)} ${col(per(zT).toFixed(0), 14)} ${col(saved > 0 ? ((per(zT) - per(rawT)) / (saved / 1024)).toFixed(2) : '-', 24)}`,
    );
  }
  console.log(`(shipped: keep compressed when it saves at least ${(MIN_SAVING * 100).toFixed(2)}%)`);
}

// --- 3. the shipped path ---------------------------------------------------------
console.log('');
console.log('encodeChunk / decodeChunk as shipped (MB of plaintext per second, one core)');
console.log(`${'compression'.padEnd(12)} ${'encryption'.padEnd(24)} ${col('stored MB', 10)} ${col('raw kept', 9)} ${col('encode MB/s', 12)} ${col('decode MB/s', 12)} ${col('dec µs/chunk', 12)}`);
const sha = fastest(() => chunks.forEach((b) => createHash('sha256').update(b).digest())).seconds;
console.log(`(SHA-256 alone: ${(mb(plainBytes) / sha).toFixed(0)} MB/s)`);
const settings: [Compression, Encryption][] = [
  ['none', 'none'],
  ['zstd', 'none'],
  ['zstd', 'convergent-aes-256-ctr'],
  ['gzip', 'none'],
  ['gzip', 'convergent-aes-256-ctr'],
];
for (const [compression, encryption] of settings) {
  const salt = encryption === 'none' ? undefined : Buffer.from('bench');
  const { value: enc, seconds: et } = fastest(() => chunks.map((b) => encodeChunk(b, { compression, encryption, salt })));
  const { seconds: dt } = fastest(() => {
    for (let i = 0; i < enc.length; i++) decodeChunk(enc[i]!.stored, { digest: enc[i]!.digest, key: enc[i]!.key, salt }, chunks[i]!.length);
  });
  const stored = enc.reduce((n, e) => n + e.stored.length, 0);
  const raw = encryption === 'none' ? enc.filter((e) => e.stored[0] === 0).length : NaN;
  console.log(
    `${compression.padEnd(12)} ${encryption.padEnd(24)} ${col(mb(stored).toFixed(1), 10)} ${col(Number.isNaN(raw) ? '-' : raw, 9)} ${col((mb(plainBytes) / et).toFixed(0), 12)} ${col((mb(plainBytes) / dt).toFixed(0), 12)} ${col(((dt * 1e6) / chunks.length).toFixed(0), 12)}`,
  );
}
