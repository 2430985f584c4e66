// The read path's decoder: a lone read decodes inline, concurrent reads go
// to worker threads; either way the same bytes come back, and damage is
// CHUNK_CORRUPT from a worker as from the main thread.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { ChunkDecoder, defaultDecodeWorkers } from '../../src/chunk/chunk-decoder.js';
import { encodeChunk } from '../../src/chunk/codec.js';

const SIZE = 256 * 1024;

function chunks(n: number, encrypted: boolean) {
  return Array.from({ length: n }, (_, i) => {
    // Compressible but distinct plaintexts.
    const plain = Buffer.alloc(SIZE, i % 251);
    randomBytes(1024).copy(plain, (i * 4096) % (SIZE - 1024));
    const e = encodeChunk(plain, { compression: 'zstd', encryption: encrypted ? 'convergent-aes-256-ctr' : 'none' });
    return { plain, stored: e.stored, chunk: { digest: e.digest, ...(e.key ? { key: e.key } : {}) } };
  });
}

describe('ChunkDecoder', () => {
  it('decodes a lone read inline and concurrent reads in workers, byte for byte', async () => {
    const decoder = new ChunkDecoder(2);
    try {
      for (const encrypted of [false, true]) {
        const cs = chunks(12, encrypted);
        const one = await decoder.read(async () => cs[0]!.stored, cs[0]!.chunk, SIZE);
        assert.ok(one.equals(cs[0]!.plain));
        if (!encrypted) assert.equal(decoder.offloaded, 0, "a lone read is decoded inline");
        const before = decoder.offloaded;
        const got = await Promise.all(cs.map((c) => decoder.read(async () => c.stored, c.chunk, SIZE)));
        got.forEach((g, i) => assert.ok(g.equals(cs[i]!.plain), `chunk ${i}`));
        assert.ok(decoder.offloaded - before >= cs.length - 1, `only ${decoder.offloaded - before} of ${cs.length} offloaded`);
      }
    } finally {
      await decoder.close();
    }
  });

  it('wrong bytes are CHUNK_CORRUPT in a worker too, and other reads still decode', async () => {
    const decoder = new ChunkDecoder(2);
    try {
      const cs = chunks(4, false);
      const damaged = Buffer.from(cs[1]!.stored);
      damaged[damaged.length - 1]! ^= 1;
      const results = await Promise.allSettled(cs.map((c, i) => decoder.read(async () => (i === 1 ? damaged : c.stored), c.chunk, SIZE)));
      assert.equal(results[1]!.status, 'rejected');
      assert.equal(((results[1] as PromiseRejectedResult).reason as { code?: string }).code, 'CHUNK_CORRUPT');
      for (const i of [0, 2, 3]) assert.ok((results[i] as PromiseFulfilledResult<Buffer>).value.equals(cs[i]!.plain));
    } finally {
      await decoder.close();
    }
  });

  it('by default, workers only where a core is left beside the main thread and the client', () => {
    assert.deepEqual([1, 2, 3, 8].map((n) => defaultDecodeWorkers(n)), [0, 0, 2, 7]);
  });

  it('an idle pool does not keep the process alive (no close needed)', async () => {
    const decoder = new ChunkDecoder(1);
    const cs = chunks(3, false);
    await Promise.all(cs.map((c) => decoder.read(async () => c.stored, c.chunk, SIZE)));
    assert.ok(decoder.offloaded > 0);
    // Left open on purpose: the test runner's process must still exit.
  });
});
