// The read path's caches: single flight, the disk tier (bounded, kept across
// restarts, verified on read) and the origin, with a store that counts gets.
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeChunk } from '../../src/chunk/codec.js';
import type { RecipeChunk } from '../../src/chunk/types.js';
import { DiskCache } from '../../src/cache/disk-cache.js';
import { LruKCache } from '../../src/cache/lru-k.js';
import { TieredChunkSource } from '../../src/cache/tiered-source.js';
import type { ChunkStore } from '../../src/store/types.js';
import type { ChunkTier } from '../../src/cache/tier.js';

const LEN = 64 * 1024;

class CountingStore implements ChunkStore {
  readonly description = 'memory';
  readonly data = new Map<string, Buffer>();
  gets = 0;
  async has(n: string) {
    return this.data.has(n);
  }
  async get(n: string) {
    this.gets++;
    await new Promise((r) => setTimeout(r, 20)); // a slow origin
    const b = this.data.get(n);
    if (!b) throw Object.assign(new Error(`chunk ${n} missing`), { code: 'CHUNK_MISSING' });
    return b;
  }
  async put(n: string, d: Buffer) {
    this.data.set(n, d);
    return true;
  }
  async *list() {}
  async deleteIfUnusedSince() {
    return false;
  }
}

let work: string;
const plains: Buffer[] = [];
const chunks: RecipeChunk[] = [];
const store = new CountingStore();
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'smr-tiers-'));
  for (let i = 0; i < 8; i++) {
    const p = Buffer.concat([randomBytes(LEN / 2), Buffer.alloc(LEN / 2, i)]);
    const e = encodeChunk(p, { compression: 'zstd', encryption: 'none' });
    await store.put(e.digest, e.stored);
    plains.push(p);
    chunks.push({ index: i, digest: e.digest, storedLength: e.stored.length });
  }
});
after(async () => rm(work, { recursive: true, force: true }));

it('concurrent reads of one missing chunk cause one fetch (single flight)', async () => {
  store.gets = 0;
  const src = new TieredChunkSource(store, { memory: new LruKCache<Buffer>({ maxBytes: 1 << 20 }) });
  const got = await Promise.all(Array.from({ length: 50 }, () => src.get(chunks[0]!, LEN)));
  assert.equal(store.gets, 1);
  for (const g of got) assert.ok(g.equals(plains[0]!));
  await src.get(chunks[0]!, LEN);
  assert.equal(store.gets, 1, 'then served from memory');
  assert.equal(src.stats.originFetches, 1);
});

it('the disk cache survives a restart, stays within its bound and never serves damaged bytes', async () => {
  const dir = join(work, 'disk');
  let disk = await DiskCache.open(dir, 3 * LEN);
  let src = new TieredChunkSource(store, { memory: new LruKCache<Buffer>({ maxBytes: 1 }), disk });
  store.gets = 0;
  for (const c of chunks.slice(0, 2)) await src.get(c, LEN);
  await disk.idle(); // disk writes are asynchronous
  assert.equal(store.gets, 2);

  // "Restart": a new cache object over the same directory.
  disk = await DiskCache.open(dir, 3 * LEN);
  src = new TieredChunkSource(store, { memory: new LruKCache<Buffer>({ maxBytes: 1 }), disk });
  store.gets = 0;
  assert.ok((await src.get(chunks[0]!, LEN)).equals(plains[0]!));
  assert.equal(store.gets, 0, 'served from disk after the restart');
  assert.equal(src.stats.tiers.disk!.hits, 1);

  // Damage the file of chunk 1: the cache notices, drops it, the origin serves.
  const sub = join(dir, 'chunks', chunks[1]!.digest.slice(0, 2));
  await writeFile(join(sub, chunks[1]!.digest), Buffer.from('garbage'));
  assert.ok((await src.get(chunks[1]!, LEN)).equals(plains[1]!));
  assert.equal(store.gets, 1);
  assert.equal(disk.stats.corrupt, 1);
  assert.equal(src.stats.tiers.disk!.corrupt, 1, 'counted once, by the source that verified it');

  // Bounded: fill past the bound, the oldest go.
  for (const c of chunks) await src.get(c, LEN);
  await disk.idle();
  assert.ok(disk.stats.bytes <= 3 * LEN, `${disk.stats.bytes} bytes cached`);
  let files = 0;
  for (const s of await readdir(join(dir, 'chunks'))) files += (await readdir(join(dir, 'chunks', s))).length;
  assert.equal(files, disk.stats.entries, 'evicted chunks leave the disk too');
});

it('a chunk the origin does not have fails with the chunk named', async () => {
  const src = new TieredChunkSource(store, { memory: new LruKCache<Buffer>({ maxBytes: 1 << 20 }) });
  await assert.rejects(src.get({ index: 9, digest: 'ab'.repeat(32), storedLength: 10 }, LEN), /chunk 9 \(abab/);
});

/** A tier held in a map: enough to show the stack's rules without servers. */
class MapTier implements ChunkTier {
  readonly data = new Map<string, Buffer>();
  rejects = 0;
  constructor(readonly name: string) {}
  async get(d: string) {
    return this.data.get(d) ?? null;
  }
  put(d: string, b: Buffer) {
    this.data.set(d, b);
  }
  rejected(d: string) {
    this.rejects++;
    this.data.delete(d);
  }
}

it('tiers stack: a hit fills the tiers above, wrong bytes from any tier are caught and bypassed', async () => {
  const upper = new MapTier('upper');
  const lower = new MapTier('lower');
  const src = new TieredChunkSource(store, { memory: new LruKCache<Buffer>({ maxBytes: 1 }), tiers: [upper, lower] });
  store.gets = 0;
  lower.put(chunks[2]!.digest, store.data.get(chunks[2]!.digest)!);
  assert.ok((await src.get(chunks[2]!, LEN)).equals(plains[2]!));
  assert.equal(store.gets, 0);
  assert.ok(upper.data.has(chunks[2]!.digest), 'the upper tier was filled');
  assert.deepEqual([src.stats.tiers.upper!.misses, src.stats.tiers.lower!.hits], [1, 1]);

  // Wrong bytes upstairs, right bytes below: caught by the digest, not served.
  const other = store.data.get(chunks[3]!.digest)!;
  upper.put(chunks[4]!.digest, other);
  assert.ok((await src.get(chunks[4]!, LEN)).equals(plains[4]!));
  assert.equal(src.stats.tiers.upper!.corrupt, 1);
  assert.equal(upper.rejects, 1);
  assert.equal(store.gets, 1, 'from the origin');
  assert.ok(upper.data.get(chunks[4]!.digest)!.equals(store.data.get(chunks[4]!.digest)!), 'and refilled with the right bytes');
  assert.equal(src.stats.tiers.lower!.misses, 1);
});
