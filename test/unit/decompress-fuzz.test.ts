// Seeded property tests for decompression: valid gzip/zstd streams give the
// same bytes in any chunking; damaged ones end in DECOMPRESS_FAILED or a tar
// error once read through TarReader, never another exception or a hang.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decompressChunks } from '../../src/tar/index.js';
import { kitchenSink, pieces } from '../helpers/tar-build.js';
import { chunkSizes, encodeArchive, entrySpec, mutate, mutation, outcome } from '../helpers/tar-arbitrary.js';
import { decompressAll, gzip, haveZstdCli, skippableFrame, zstd } from '../helpers/tar-compress.js';

const SEED = 7031;
const T = { timeout: 60_000 };
const CODES = /^(TAR_|DECOMPRESS_)/;

interface Sample {
  format: 'gzip' | 'zstd';
  plain: Buffer;
  packed: Buffer;
}

/** A few compressed tars, made once: the zstd CLI is too slow to call per run. */
function samples(): Sample[] {
  const tars = [kitchenSink(), ...fc.sample(fc.array(entrySpec, { minLength: 1, maxLength: 5 }), { seed: SEED, numRuns: 4 }).map(encodeArchive)];
  const out: Sample[] = [];
  for (const plain of tars) {
    out.push({ format: 'gzip', plain, packed: gzip(plain) });
    out.push({ format: 'gzip', plain, packed: Buffer.concat([gzip(plain.subarray(0, 700)), gzip(plain.subarray(700))]) });
    if (haveZstdCli) {
      out.push({ format: 'zstd', plain, packed: zstd(plain) });
      out.push({
        format: 'zstd',
        plain,
        packed: Buffer.concat([skippableFrame(Buffer.from('x')), zstd(plain.subarray(0, 1000), ['--no-check']), zstd(plain.subarray(1000))]),
      });
    }
  }
  return out;
}

const SAMPLES = samples();

test('valid streams decompress to the same bytes in any chunking', T, async () => {
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...SAMPLES), fc.integer({ min: 1, max: 700 }), async (s, size) => {
      assert.deepEqual(await decompressAll(s.packed, {}, size), s.plain);
    }),
    { seed: SEED, numRuns: 150 },
  );
});

test('damaged streams end in DECOMPRESS_FAILED or a tar error', T, async () => {
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...SAMPLES), fc.array(mutation, { minLength: 1, maxLength: 3 }), chunkSizes, async (s, muts, sizes) => {
      const bad = mutate(s.packed, muts);
      await outcome(decompressChunks(pieces(bad, sizes), { what: 'fuzz' }), 5000, CODES);
    }),
    { seed: SEED + 1, numRuns: 400 },
  );
});

test('random bytes after a gzip or zstd magic', T, async () => {
  const magic = fc.constantFrom(Buffer.from([0x1f, 0x8b]), Buffer.from([0x1f, 0x8b, 8, 0]), Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.from([0x50, 0x2a, 0x4d, 0x18]));
  await fc.assert(
    fc.asyncProperty(magic, fc.uint8Array({ maxLength: 300 }), chunkSizes, async (m, rest, sizes) => {
      await outcome(decompressChunks(pieces(Buffer.concat([m, Buffer.from(rest)]), sizes)), 5000, CODES);
    }),
    { seed: SEED + 2, numRuns: 300 },
  );
});
