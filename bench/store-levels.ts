// bench/store-levels: what each compression level would make of a store's
// chunks, so the size/speed trade-off is visible in one run. Over the
// distinct chunks the recipes name (decoded back to plaintext first):
//   stored bytes (codec byte included), against registry bytes and against
//     the store as it is;
//   compress MB/s: wall time of the Chunker, i.e. hashing and compression in
//     the encode worker pool on every core, as `smr convert` runs it;
//   decompress MB/s: decodeChunk of one chunk at a time in this thread (the
//     read path decodes single chunks: what a boot pays).
// MB are of plaintext (trailing zeros included), 10^6 bytes.
// Run: node dist/bench/store-levels.js --registry BYTES --levels zstd:1,zstd:3 STORE RECIPE...
import { availableParallelism, loadavg } from 'node:os';
import { Chunker } from '../src/chunk/chunker.js';
import { decodeChunk } from '../src/chunk/codec.js';
import type { Compression } from '../src/chunk/types.js';
import { readRecipe } from '../src/store/recipe-io.js';
import { openStore } from '../src/store/index.js';
import type { ChunkWriter } from '../src/store/types.js';

interface Setting {
  compression: Compression;
  level?: number;
}

function parseArgs(argv: string[]): { registry: number; settings: Setting[]; store: string; recipes: string[] } {
  const rest: string[] = [];
  let registry = NaN;
  let levels = 'zstd:1,zstd:3,zstd:9';
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--registry') registry = Number(argv[++i]);
    else if (argv[i] === '--levels') levels = argv[++i]!;
    else rest.push(argv[i]!);
  }
  if (!(registry > 0) || rest.length < 2) {
    console.error('usage: node dist/bench/store-levels.js --registry BYTES [--levels zstd:1,zstd:3,none] STORE RECIPE...');
    process.exit(2);
  }
  const settings = levels.split(',').map((s): Setting => {
    const [c, l] = s.split(':');
    return { compression: c as Compression, ...(l !== undefined ? { level: Number(l) } : {}) };
  });
  return { registry, settings, store: rest[0]!, recipes: rest.slice(1) };
}

/** A writer that keeps what it is given in memory. */
class MemoryWriter implements ChunkWriter {
  readonly description = 'memory';
  readonly chunks = new Map<string, Buffer>();
  async put(name: string, data: Buffer): Promise<boolean> {
    this.chunks.set(name, data);
    return true;
  }
}

const { registry, settings, store: storeUri, recipes } = parseArgs(process.argv.slice(2));
const store = await openStore(storeUri);
const byDigest = new Map<string, number>();
for (const r of recipes) {
  const recipe = await readRecipe(r);
  for (const c of recipe.chunks) byDigest.set(c.digest, Math.min(recipe.chunkSize, recipe.imageSize - c.index * recipe.chunkSize));
}
const plains: Buffer[] = [];
let storedNow = 0;
for (const [digest, length] of byDigest) {
  const stored = await store.get(digest);
  storedNow += stored.length;
  plains.push(decodeChunk(stored, { digest }, length));
}
await store.close?.();
const plainBytes = plains.reduce((n, p) => n + p.length, 0);
const mb = (n: number) => n / 1e6;
const col = (s: string | number, w: number) => String(s).padStart(w);

console.log(`${plains.length} distinct chunks, ${mb(plainBytes).toFixed(1)} MB of plaintext; stored now ${mb(storedNow).toFixed(2)} MB; registry ${mb(registry).toFixed(2)} MB`);
console.log(`libzstd ${process.versions.zstd}, node ${process.version}, ${availableParallelism()} cores, load ${loadavg()[0]!.toFixed(1)} at start`);
console.log(`${'codec'.padEnd(10)} ${col('stored MB', 10)} ${col('/registry', 10)} ${col('/now', 6)} ${col('comp MB/s', 10)} ${col('dec MB/s', 9)} ${col('dec µs/chunk', 13)}`);
for (const s of settings) {
  const writer = new MemoryWriter();
  const chunker = new Chunker(writer, { compression: s.compression, level: s.level, encryption: 'none' });
  const t0 = performance.now();
  for (const [i, p] of plains.entries()) await chunker.add(i, Buffer.from(p));
  const { chunks } = await chunker.finish(plainBytes, {});
  const ct = (performance.now() - t0) / 1000;
  const stored = chunks.reduce((n, c) => n + c.storedLength, 0);
  // Decoding: best of two passes, one chunk at a time.
  let dt = Infinity;
  for (let pass = 0; pass < 2; pass++) {
    const t1 = performance.now();
    for (const c of chunks) decodeChunk(writer.chunks.get(c.digest)!, c, plains[c.index]!.length);
    dt = Math.min(dt, (performance.now() - t1) / 1000);
  }
  const name = s.level === undefined ? s.compression : `${s.compression} ${s.level}`;
  console.log(
    `${name.padEnd(10)} ${col(mb(stored).toFixed(2), 10)} ${col((stored / registry).toFixed(3), 10)} ${col((stored / storedNow).toFixed(3), 6)} ${col(
      (mb(plainBytes) / ct).toFixed(1),
      10,
    )} ${col((mb(plainBytes) / dt).toFixed(0), 9)} ${col(((dt * 1e6) / chunks.length).toFixed(0), 13)}`,
  );
}
console.log(`load ${loadavg()[0]!.toFixed(1)} at the end (timings are of this run only: compare rows, not runs)`);
