// A separate process working on a store, for the concurrency tests:
//   put    STORE SEED SIZE INDICES        put the chunks (INDICES: 3,1,2), 8 at a time
//   writer STORE SEED SIZE COUNT PASS_MS  put chunks 0..COUNT-1 once each, in random
//                                         order over PASS_MS, from a line on stdin
//   gc     STORE SEED SIZE COUNT KEEP_EVERY  gc (grace 0) keeping every KEEP_EVERY-th
// Each prints one JSON line at the end; gc prints "start <ms>" just before
// it starts. Without arguments it does nothing (`node --test dist/test/`
// loads every file here).
import { DirStore } from '../../src/store/dir/dir-store.js';
import { gc } from '../../src/store/gc.js';
import { testChunk } from './store-chunks.js';

function shuffled(n: number): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

async function put(root: string, seed: string, size: number, indices: number[]): Promise<void> {
  const store = new DirStore(root);
  let wrote = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < indices.length) {
        const c = testChunk(seed, indices[next++]!, size);
        if (await store.put(c.name, c.data)) wrote++;
      }
    }),
  );
  await store.close();
  process.stdout.write(`${JSON.stringify({ wrote, puts: indices.length })}\n`);
}

// One pass over chunks 0..COUNT-1 in random order, spread over PASS_MS,
// starting when a line arrives on stdin (the test sends it once gc started).
async function writer(root: string, seed: string, size: number, count: number, passMs: number): Promise<void> {
  const store = new DirStore(root);
  const order = shuffled(count);
  await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
  process.stdin.destroy();
  const t0 = Date.now();
  let wrote = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < order.length) {
        const k = next++;
        const ahead = t0 + (k * passMs) / count - Date.now();
        if (ahead >= 2) await new Promise((r) => setTimeout(r, ahead));
        const c = testChunk(seed, order[k]!, size);
        if (await store.put(c.name, c.data)) wrote++;
      }
    }),
  );
  process.stdout.write(`${JSON.stringify({ puts: count, wrote, ms: Date.now() - t0 })}\n`);
}

async function collect(root: string, seed: string, size: number, count: number, keepEvery: number): Promise<void> {
  const keep: string[] = [];
  for (let i = 0; i < count; i += keepEvery) keep.push(testChunk(seed, i, size).name);
  process.stdout.write(`start ${Date.now()}\n`);
  const r = await gc(new DirStore(root), keep, { graceMs: 0 });
  process.stdout.write(`${JSON.stringify(r)}\n`);
}

const [mode, root, seed, ...rest] = process.argv.slice(2);
if (mode === 'put') await put(root!, seed!, Number(rest[0]), rest[1]!.split(',').map(Number));
else if (mode === 'writer') await writer(root!, seed!, Number(rest[0]), Number(rest[1]), Number(rest[2]));
else if (mode === 'gc') await collect(root!, seed!, Number(rest[0]), Number(rest[1]), Number(rest[2]));
else if (mode !== undefined) throw new Error(`store-worker: unknown mode '${mode}'`); // none: loaded by the test runner
