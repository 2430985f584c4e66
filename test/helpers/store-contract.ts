// One contract for every store backend, by role (as undici runs one suite
// against each cache store): what a reader, a writer and a collector must
// do, whatever sits behind them. A backend's test file calls storeContract
// with a factory that gives a fresh, empty store and ways to reach it.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import type { AnyStore, ChunkReader, ChunkWriter } from '../../src/store/types.js';
import { testChunk, testChunks } from './store-chunks.js';

export interface ContractSubject {
  /** The store under test (its roles decide which parts of the contract run). */
  store: AnyStore;
  /** For read-only stores: writes chunks into the tree the store reads. */
  fill?: (chunks: Array<{ name: string; data: Buffer }>) => Promise<void>;
  /** Puts other bytes under a chunk's final name, behind the store's back. */
  damage?: (name: string, bytes: Buffer) => Promise<void>;
  cleanup?: () => Promise<void>;
}

export function storeContract(backend: string, make: () => Promise<ContractSubject>): void {
  const fresh = async (): Promise<ContractSubject & { seed: string }> => ({ ...(await make()), seed: randomUUID() });
  const writeAll = async (s: ContractSubject, chunks: Array<{ name: string; data: Buffer }>) => {
    if (typeof s.store.put === 'function') for (const c of chunks) await s.store.put(c.name, c.data);
    else await s.fill!(chunks);
  };
  // A fresh store for one test, closed and removed however the test ends.
  const withSubject = async (fn: (s: ContractSubject & { seed: string }) => Promise<void>) => {
    const s = await fresh();
    try {
      await fn(s);
    } finally {
      await s.store.close?.();
      await s.cleanup?.();
    }
  };

  describe(`store contract: ${backend}`, () => {
    it('reader: a missing chunk is CHUNK_MISSING for get and false for has', async () => {
      await withSubject(async (s) => {
        const c = testChunk(s.seed, 0);
        assert.equal(await s.store.has(c.name), false);
        await assert.rejects(s.store.get(c.name), { code: 'CHUNK_MISSING' });
      });
    });

    it('reader: written chunks come back byte for byte, in parallel too', async () => {
      await withSubject(async (s) => {
        const chunks = testChunks(s.seed, 12, 64 * 1024);
        await writeAll(s, chunks);
        const got = await Promise.all(chunks.map((c) => s.store.get(c.name)));
        got.forEach((g, i) => assert.deepEqual(g, chunks[i]!.data));
        for (const c of chunks) assert.equal(await s.store.has(c.name), true);
      });
    });

    it('reader: refuses names that are not chunk names before any request', async () => {
      await withSubject(async (s) => {
        for (const bad of ['../x', 'ABC', '', 'a'.repeat(63)]) await assert.rejects(s.store.get(bad), { code: 'CHUNK_NAME' });
      });
    });

    it('reader: wrong bytes under a chunk name are never returned', async (t) => {
      await withSubject(async (s) => {
        if (!s.damage) return void t.skip('no way to damage this store from outside');
        // Stores that trust their medium (dir) return the bytes and leave the
        // check to decodeChunk; remote stores must fail the read.
        const c = testChunk(s.seed, 1);
        await writeAll(s, [c]);
        await s.damage(c.name, Buffer.from('not the chunk'));
        await assert.rejects(s.store.get(c.name), (e: Error & { code?: string }) => {
          assert.equal(e.code, 'CHUNK_CORRUPT');
          assert.doesNotMatch(e.message, /\n/);
          return true;
        });
      });
    });

    it('writer: put writes once, then reports the chunk as present', async (t) => {
      await withSubject(async (s) => {
        if (typeof s.store.put !== 'function') return void t.skip('read-only store');
        const w = s.store as ChunkReader & ChunkWriter;
        const c = testChunk(s.seed, 2, 100_000);
        assert.equal(await w.put(c.name, c.data), true);
        assert.equal(await w.put(c.name, c.data), false);
        await w.flush?.();
        assert.deepEqual(await w.get(c.name), c.data);
        // Concurrent writers of one chunk both succeed.
        const d = testChunk(s.seed, 3);
        const results = await Promise.all([w.put(d.name, d.data), w.put(d.name, d.data), w.put(d.name, d.data)]);
        assert.ok(results.includes(true) || (await w.has(d.name)));
        assert.deepEqual(await w.get(d.name), d.data);
      });
    });

    it('collector: list gives every chunk with its size; an old unused chunk can be deleted', async (t) => {
      await withSubject(async (s) => {
        const st = s.store;
        if (typeof st.list !== 'function' || typeof st.deleteIfUnusedSince !== 'function') return void t.skip('not collectable');
        const chunks = testChunks(s.seed, 5, 3000);
        await writeAll(s, chunks);
        const listed = new Map<string, number>();
        for await (const e of st.list()) listed.set(e.name, e.size);
        for (const c of chunks) assert.equal(listed.get(c.name), 3000);
        // Used after the cut-off: kept.
        assert.equal(await st.deleteIfUnusedSince(chunks[0]!.name, Date.now() - 60_000), false);
        assert.equal(await st.has(chunks[0]!.name), true);
        // Unused since a future cut-off: deleted.
        assert.equal(await st.deleteIfUnusedSince(chunks[0]!.name, Date.now() + 60_000), true);
        assert.equal(await st.has(chunks[0]!.name), false);
      });
    });
  });
}
