// Seeded property tests: random archives read back exactly, in any chunking;
// damaged archives end in a tar error (the same one in any chunking), never
// in another exception or a hang.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { kitchenSink, pieces } from '../helpers/tar-build.js';
import { chunkSizes, encodeArchive, entrySpec, expected, mutate, mutation, outcome, randomHeader, randomPax } from '../helpers/tar-arbitrary.js';
import { collect } from '../helpers/tar-collect.js';

const SEED = 20240611;
const T = { timeout: 60_000 };

test('random entries in random styles read back exactly, in any chunking', T, async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(entrySpec, { minLength: 0, maxLength: 6 }), chunkSizes, async (specs, sizes) => {
      const tar = encodeArchive(specs);
      const got = await collect(pieces(tar, sizes), { keepBodies: 1 << 20 });
      assert.deepEqual(
        got.map(({ headerOffset: _h, sha256: _s, body: _b, ...e }) => e),
        specs.map(expected),
      );
      got.forEach((e, i) => assert.deepEqual(e.body, specs[i]!.data));
    }),
    { seed: SEED, numRuns: 1000 },
  );
});

test('damaged archives end in a tar error or entries, the same in any chunking', T, async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.array(entrySpec, { minLength: 1, maxLength: 4 }).map(encodeArchive),
        fc.constant(kitchenSink()),
      ),
      fc.array(mutation, { minLength: 1, maxLength: 4 }),
      chunkSizes,
      async (tar, muts, sizes) => {
        const bad = mutate(tar, muts);
        const whole = await outcome(pieces(bad));
        const split = await outcome(pieces(bad, sizes));
        assert.deepEqual(split, whole);
      },
    ),
    { seed: SEED + 1, numRuns: 3000 },
  );
});

test('headers with random fields and a valid checksum', T, async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(randomHeader, { minLength: 1, maxLength: 3 }), fc.uint8Array({ maxLength: 2000 }), chunkSizes, async (headers, tail, sizes) => {
      const buf = Buffer.concat([...headers, Buffer.from(tail)]);
      assert.deepEqual(await outcome(pieces(buf, sizes)), await outcome(pieces(buf)));
    }),
    { seed: SEED + 2, numRuns: 2000 },
  );
});

test('extended headers with random records', T, async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(randomPax, { minLength: 1, maxLength: 3 }), fc.array(mutation, { maxLength: 2 }), chunkSizes, async (parts, muts, sizes) => {
      const buf = mutate(Buffer.concat([...parts, Buffer.alloc(1024)]), muts);
      assert.deepEqual(await outcome(pieces(buf, sizes)), await outcome(pieces(buf)));
    }),
    { seed: SEED + 4, numRuns: 1500 },
  );
});

test('random bytes', T, async () => {
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 3000 }), async (bytes) => {
      await outcome(pieces(Buffer.from(bytes)));
    }),
    { seed: SEED + 3, numRuns: 1000 },
  );
});
