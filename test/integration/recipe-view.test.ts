// readAt over a recipe, property-tested against the raw image: random
// offsets and lengths, biased to start and end at chunk boundaries, inside
// zero chunks, and to span several chunks.
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { fixtureLayout, skipWithoutFixtures } from '../helpers/fixtures.js';
import { smr } from '../helpers/run.js';
import { readRecipeFile } from '../../src/chunk/recipe.js';
import { RecipeView } from '../../src/blockdev/recipe-view.js';
import { LruKCache } from '../../src/cache/lru-k.js';
import { TieredChunkSource } from '../../src/cache/tiered-source.js';
import { openStore } from '../../src/store/index.js';

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'smr-view-'));
});
after(async () => rm(work, { recursive: true, force: true }));

it('readAt equals the raw image for any offset and length', { skip: skipWithoutFixtures(), timeout: 300_000 }, async () => {
  const img = join(work, 'py.img');
  for (const args of [['build', `oci:${fixtureLayout('python3')}`, '-o', img, '-q'], ['chunk', img, '--store', join(work, 's'), '-o', join(work, 'py.recipe'), '-q', '--chunk-size', '128K']]) {
    const r = await smr(args);
    assert.equal(r.code, 0, r.stderr);
  }
  const recipe = await readRecipeFile(join(work, 'py.recipe'));
  const view = new RecipeView(recipe, new TieredChunkSource(await openStore(join(work, 's')), { memory: new LruKCache<Buffer>({ maxBytes: 16 * 128 * 1024 }) }));
  const cs = recipe.chunkSize;
  const size = recipe.imageSize;
  const zeroChunks = Array.from({ length: view.chunkCount }, (_, i) => i).filter((i) => view.chunk(i) === undefined);
  const dataChunks = recipe.chunks.map((c) => c.index);
  const fh = await open(img, 'r');
  try {
    const anyChunk = fc.oneof(fc.constantFrom(...zeroChunks), fc.constantFrom(...dataChunks), fc.integer({ min: 0, max: view.chunkCount - 1 }));
    const start = fc.oneof(
      fc.tuple(anyChunk, fc.integer({ min: -64, max: 64 })).map(([c, d]) => c * cs + d), // around a boundary
      fc.tuple(anyChunk, fc.integer({ min: 0, max: cs - 1 })).map(([c, o]) => c * cs + o), // anywhere in a chunk
      fc.constant(size - 1),
    );
    const length = fc.oneof(fc.integer({ min: 1, max: 4096 }), fc.integer({ min: 1, max: 4 * cs }), fc.constantFrom(cs, 2 * cs, cs + 1));
    await fc.assert(
      fc.asyncProperty(start, length, async (s, n) => {
        const off = Math.min(Math.max(0, s), size - 1);
        const got = Buffer.alloc(n);
        const want = Buffer.alloc(n);
        const read = await view.readAt(got, off);
        assert.equal(read, Math.min(n, size - off));
        await fh.read(want, 0, read, off);
        assert.ok(got.subarray(0, read).equals(want.subarray(0, read)), `${n} bytes at ${off}`);
      }),
      { numRuns: 2000, seed: 11 },
    );
    // Past the end reads nothing.
    assert.equal(await view.readAt(Buffer.alloc(10), size), 0);
  } finally {
    await fh.close();
  }
});
