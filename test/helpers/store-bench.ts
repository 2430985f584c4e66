// Throughput of the directory store:
//   node dist/test/helpers/store-bench.js CHUNKS [CONCURRENCY] [DIR]
// DIR is emptied first (default: a new directory under /var/tmp, on disk
// where /tmp may be a tmpfs). Chunks are 512 KiB, each different. Without
// arguments it does nothing: `node --test dist/test/` loads every file here.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { DirStore } from '../../src/store/dir/dir-store.js';
import { gc } from '../../src/store/gc.js';

const CHUNK = 512 * 1024;

function variant(base: Buffer, i: number): Buffer {
  const b = Buffer.from(base);
  b.writeUInt32LE(i, 0);
  return b;
}

async function timed(label: string, n: number, bytes: number, fn: () => Promise<void>): Promise<void> {
  const t0 = performance.now();
  await fn();
  const s = (performance.now() - t0) / 1000;
  const rate = `${Math.round(n / s)}/s`.padStart(9);
  const mib = bytes > 0 ? `  ${Math.round(bytes / 2 ** 20 / s)} MiB/s` : '';
  process.stdout.write(`${label.padEnd(44)} ${rate}${mib}  (${n} in ${s.toFixed(2)} s)\n`);
}

async function pool(n: number, conc: number, one: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: conc }, async () => {
    while (next < n) await one(next++);
  }));
}

async function main(): Promise<void> {
  const n = Math.ceil(Number(process.argv[2]) / 4) * 4;
  const conc = Number(process.argv[3] ?? 8);
  const dir = process.argv[4] ?? (await mkdtemp(join('/var/tmp', 'smr-store-bench-')));
  await rm(dir, { recursive: true, force: true });
  const base = randomBytes(CHUNK);
  const names = Array.from({ length: n }, (_, i) => createHash('sha256').update(variant(base, i)).digest('hex'));
  const store = new DirStore(dir);
  try {
    await timed(`put new, 1 at a time`, n / 4, (n / 4) * CHUNK, () => pool(n / 4, 1, async (i) => void (await store.put(names[i]!, variant(base, i)))));
    await timed(`put new, ${conc} at a time`, n - n / 4, (n - n / 4) * CHUNK, () =>
      pool(n - n / 4, conc, async (i) => void (await store.put(names[i + n / 4]!, variant(base, i + n / 4)))),
    );
    await timed('flush (fsync of the touched directories)', 1, 0, () => store.flush());
    await timed(`put existing, ${conc} at a time`, n, 0, () => pool(n, conc, async (i) => void (await store.put(names[i]!, base))));
    await timed(`has, ${conc} at a time`, n, 0, () => pool(n, conc, async (i) => void (await store.has(names[i]!))));
    await timed(`get (page cache), ${conc} at a time`, n, n * CHUNK, () => pool(n, conc, async (i) => void (await store.get(names[i]!))));
    await timed('get (page cache), 1 at a time', n, n * CHUNK, () => pool(n, 1, async (i) => void (await store.get(names[i]!))));
    await timed('gc scan, nothing to delete', n, 0, async () => void (await gc(store, names, { graceMs: 0 })));
    const dayAgo = new Date(Date.now() - 86_400_000);
    await pool(n, conc, (i) => utimes(join(dir, 'chunks', 'sha256', names[i]!.slice(0, 2), names[i]!), dayAgo, dayAgo));
    await timed('gc, deleting every chunk', n, 0, async () => void (await gc(store, [], { graceMs: 0 })));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv.length > 2) await main();
