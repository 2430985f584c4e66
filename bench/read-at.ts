// readAt throughput over a recipe and its store, against the raw file: 1 MiB
// sequential reads and 4 KiB random reads, cold (empty memory cache) and
// warm. Used by bench/chunk: node dist/bench/read-at.js RECIPE STORE IMAGE
import { open } from 'node:fs/promises';
import { randomInt } from 'node:crypto';
import { readRecipeFile } from '../src/chunk/recipe.js';
import { RecipeView } from '../src/blockdev/recipe-view.js';
import { LruKCache } from '../src/cache/lru-k.js';
import { TieredChunkSource } from '../src/cache/tiered-source.js';
import { openStore } from '../src/store/index.js';

const [recipePath, storePath, imagePath] = process.argv.slice(2) as [string, string, string];
const recipe = await readRecipeFile(recipePath);
const store = await openStore(storePath);
const size = recipe.imageSize;
const RANDOM = 20000;
const offsets = Array.from({ length: RANDOM }, () => randomInt(0, Math.floor(size / 4096)) * 4096);

async function viewRun(label: string, view: RecipeView): Promise<void> {
  let t = performance.now();
  const big = Buffer.alloc(1 << 20);
  for (let o = 0; o < size; o += big.length) await view.readAt(big, o);
  const seq = size / ((performance.now() - t) / 1000) / 1e6;
  const small = Buffer.alloc(4096);
  t = performance.now();
  for (const o of offsets) await view.readAt(small, o);
  const iops = RANDOM / ((performance.now() - t) / 1000);
  console.log(`${label.padEnd(22)} seq 1 MiB ${seq.toFixed(0).padStart(6)} MB/s   random 4 KiB ${iops.toFixed(0).padStart(7)} reads/s`);
}

// Raw file.
const fh = await open(imagePath, 'r');
let t = performance.now();
const big = Buffer.alloc(1 << 20);
for (let o = 0; o < size; o += big.length) await fh.read(big, 0, big.length, o);
const rawSeq = size / ((performance.now() - t) / 1000) / 1e6;
const small = Buffer.alloc(4096);
t = performance.now();
for (const o of offsets) await fh.read(small, 0, 4096, o);
const rawIops = RANDOM / ((performance.now() - t) / 1000);
await fh.close();
console.log(`${'raw file'.padEnd(22)} seq 1 MiB ${rawSeq.toFixed(0).padStart(6)} MB/s   random 4 KiB ${rawIops.toFixed(0).padStart(7)} reads/s`);

// Cold: a fresh cache per pass, large enough for the image (so "warm" fits).
const memory = new LruKCache<Buffer>({ maxBytes: 1 << 30 });
const view = new RecipeView(recipe, new TieredChunkSource(store, { memory }));
await viewRun('recipe view, cold', new RecipeView(recipe, new TieredChunkSource(store, { memory: new LruKCache<Buffer>({ maxBytes: 1 << 30 }) })));
await viewRun('recipe view, warm-up', view);
await viewRun('recipe view, warm', view);
console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
