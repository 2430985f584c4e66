import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DirStore } from '../../src/store/dir/dir-store.js';
import { gc } from '../../src/store/gc.js';
import { age, chunkFile, inspectTree, tempDir, testChunks, type TestChunk } from '../helpers/store-chunks.js';

const HOUR = 3_600_000;

let work: string;
before(async () => {
  work = await tempDir('gc');
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

async function filled(name: string, count: number): Promise<{ root: string; store: DirStore; chunks: TestChunk[] }> {
  const root = join(work, name);
  const store = new DirStore(root);
  const chunks = testChunks(name, count, 1000 + count);
  for (const c of chunks) await store.put(c.name, c.data);
  return { root, store, chunks };
}

describe('gc', () => {
  it('deletes unreferenced old chunks, keeps referenced and young ones', async () => {
    const { root, store, chunks } = await filled('plain', 12);
    const referenced = chunks.slice(0, 4);
    const young = chunks.slice(4, 7);
    const old = chunks.slice(7);
    await age(root, [...referenced, ...old].map((c) => c.name), 2 * HOUR);
    const progress: number[] = [];
    const r = await gc(store, referenced.map((c) => c.name), { graceMs: HOUR, onProgress: (n) => progress.push(n) });
    assert.deepEqual(r, { kept: 4, deleted: 5, deletedBytes: 5 * 1012, young: 3 });
    assert.deepEqual(progress, Array.from({ length: 12 }, (_, i) => i + 1));
    for (const c of [...referenced, ...young]) assert.ok(await store.has(c.name));
    for (const c of old) assert.equal(await store.has(c.name), false);
    const t = await inspectTree(root);
    assert.deepEqual([t.corrupt, t.temps, t.trash], [[], [], []]);
  });

  it('dryRun counts what would go and deletes nothing', async () => {
    const { root, store, chunks } = await filled('dry', 6);
    await age(root, chunks.map((c) => c.name), 2 * HOUR);
    const r = await gc(store, [chunks[0]!.name], { graceMs: HOUR, dryRun: true });
    assert.deepEqual(r, { kept: 1, deleted: 5, deletedBytes: 5 * 1006, young: 0 });
    for (const c of chunks) assert.ok(await store.has(c.name));
  });

  it('a grace period longer than the chunks’ age keeps them all', async () => {
    const { root, store, chunks } = await filled('grace', 4);
    await age(root, chunks.map((c) => c.name), 2 * HOUR);
    assert.deepEqual(await gc(store, [], { graceMs: 3 * HOUR }), { kept: 0, deleted: 0, deletedBytes: 0, young: 4 });
  });

  it('a put after the listing saves the chunk (re-used chunks get a fresh mtime)', async () => {
    const { root, store, chunks } = await filled('reuse', 3);
    await age(root, chunks.map((c) => c.name), 2 * HOUR);
    // Stand-in for a convert that re-uses chunk 0 while gc is between listing and deleting.
    const listing = {
      description: store.description,
      has: (n: string) => store.has(n),
      get: (n: string) => store.get(n),
      put: (n: string, d: Buffer) => store.put(n, d),
      deleteIfUnusedSince: (n: string, t: number) => store.deleteIfUnusedSince(n, t),
      async *list() {
        let first = true;
        for await (const c of store.list()) {
          if (first) assert.equal(await store.put(chunks[0]!.name, chunks[0]!.data), false);
          first = false;
          yield c;
        }
      },
    };
    const r = await gc(listing, [], { graceMs: 0 });
    assert.equal(r.deleted, 2);
    assert.ok(await store.has(chunks[0]!.name));
  });

  it('refuses a negative or non-finite grace period', async () => {
    const { store } = await filled('bad-grace', 1);
    await assert.rejects(gc(store, [], { graceMs: -1 }), { code: 'USAGE' });
    await assert.rejects(gc(store, [], { graceMs: Number.NaN }), { code: 'USAGE' });
  });

  it('on a store that is not there: STORE_NOT_FOUND, nothing created', async () => {
    const root = join(work, 'absent');
    await assert.rejects(gc(new DirStore(root), [], { graceMs: 0 }), { code: 'STORE_NOT_FOUND' });
    assert.equal(existsSync(root), false);
  });
});

describe('DirStore.deleteIfUnusedSince', () => {
  it('deletes a chunk unused since the time, through the trash', async () => {
    const { root, store, chunks } = await filled('del-old', 1);
    await age(root, [chunks[0]!.name], HOUR);
    assert.equal(await store.deleteIfUnusedSince(chunks[0]!.name, Date.now() - 1000), true);
    assert.equal(await store.has(chunks[0]!.name), false);
    assert.deepEqual((await inspectTree(root)).trash, []);
  });

  it('puts back a chunk used since then', async () => {
    const { store, chunks } = await filled('del-young', 1);
    assert.equal(await store.deleteIfUnusedSince(chunks[0]!.name, Date.now() - HOUR), false);
    assert.deepEqual(await store.get(chunks[0]!.name), chunks[0]!.data);
  });

  it('is false for a chunk that is not there', async () => {
    const { store } = await filled('del-none', 1);
    assert.equal(await store.deleteIfUnusedSince(testChunks('other', 1)[0]!.name, Date.now()), false);
  });

  it('a put after the deletion writes the chunk again', async () => {
    const { root, store, chunks } = await filled('del-put', 1);
    await age(root, [chunks[0]!.name], HOUR);
    assert.equal(await store.deleteIfUnusedSince(chunks[0]!.name, Date.now()), true);
    assert.equal(await store.put(chunks[0]!.name, chunks[0]!.data), true);
    assert.deepEqual(await store.get(chunks[0]!.name), chunks[0]!.data);
  });
});

describe('recovery from a crashed gc or writer', () => {
  it('gc first puts back chunks left in the trash, then judges them like any other', async () => {
    const { root, store, chunks } = await filled('crashed-gc', 3);
    await age(root, chunks.map((c) => c.name), 2 * HOUR);
    // As a gc that died between its rename and its decision leaves them.
    await mkdir(join(root, 'trash'), { recursive: true });
    for (const c of chunks) await rename(chunkFile(root, c.name), join(root, 'trash', `${c.name}.999-dead-0`));
    const now = new Date();
    await utimes(join(root, 'trash', `${chunks[1]!.name}.999-dead-0`), now, now); // a put refreshed it just before
    const r = await gc(store, [chunks[0]!.name], { graceMs: HOUR });
    assert.deepEqual(r, { kept: 1, deleted: 1, deletedBytes: 1003, young: 1 });
    assert.ok(await store.has(chunks[0]!.name));
    assert.ok(await store.has(chunks[1]!.name));
    assert.equal(await store.has(chunks[2]!.name), false);
    assert.deepEqual((await inspectTree(root)).trash, []);
  });

  it('gc removes temporary files older than the grace period, not newer ones', async () => {
    const { root, store, chunks } = await filled('crashed-put', 1);
    const dir = join(root, 'chunks', 'sha256', chunks[0]!.name.slice(0, 2));
    await writeFile(join(dir, '.tmp-1-dead-0'), 'half a chunk');
    await writeFile(join(dir, '.tmp-1-live-0'), 'a put in progress');
    const old = new Date(Date.now() - 2 * HOUR);
    await utimes(join(dir, '.tmp-1-dead-0'), old, old);
    await gc(store, [chunks[0]!.name], { graceMs: HOUR });
    assert.deepEqual((await inspectTree(root)).temps, [`${chunks[0]!.name.slice(0, 2)}/.tmp-1-live-0`]);
  });
});
