// cutAtFrameEnds: the same bytes, with a piece ending at every frame's end
// (frames from the zstd CLI and from node:zlib, with and without checksums,
// skippable and empty ones), whatever pieces come in; and clear errors for
// what is not a frame or ends inside one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { zstdCompressSync } from 'node:zlib';
import fc from 'fast-check';
import { cutAtFrameEnds } from '../../src/tar/zstd-frames.js';
import { pieces } from '../helpers/tar-build.js';
import { haveZstdCli, skippableFrame, zstd } from '../helpers/tar-compress.js';

const text = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => `${seed}:${i % 97} `).join('').slice(0, n));
const frames: Buffer[] = [
  zstdCompressSync(text(200_000, 1)),
  skippableFrame(Buffer.from('index')),
  zstdCompressSync(Buffer.alloc(0)),
  skippableFrame(Buffer.alloc(0), 7),
  zstdCompressSync(Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 2654435761) >>> 24))),
  ...(haveZstdCli ? [zstd(text(5000, 2), ['--no-check']), zstd(Buffer.alloc(0)), zstd(text(300_000, 3), ['-19'])] : []),
];
const stream = Buffer.concat(frames);
const ends = frames.reduce<number[]>((acc, f) => [...acc, (acc.at(-1) ?? 0) + f.length], []);

async function cut(input: Buffer, sizes: number[]): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const p of cutAtFrameEnds(pieces(input, sizes))) out.push(p);
  return out;
}

test('the bytes come out unchanged, with a piece ending at every frame end', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 200_000 }), { minLength: 1, maxLength: 6 }), async (sizes) => {
      const out = await cut(stream, sizes);
      assert.ok(Buffer.concat(out).equals(stream));
      const pieceEnds = new Set(out.reduce<number[]>((acc, p) => [...acc, (acc.at(-1) ?? 0) + p.length], []));
      for (const e of ends) assert.ok(pieceEnds.has(e), `no piece ends at ${e}`);
    }),
    { seed: 4242, numRuns: 60 },
  );
});

test('garbage after the last frame, a reserved block type or a cut frame is an error', async () => {
  await assert.rejects(cut(Buffer.concat([stream, Buffer.from('trailing text')]), [4096]), /data after the last zstd frame is not a zstd frame/);
  await assert.rejects(cut(stream.subarray(0, ends[0]! - 1), [4096]), /ends inside a zstd frame/);
  await assert.rejects(cut(Buffer.from('not zstd at all'), [4096]), /not a zstd frame/);
  // The first block's type bits set to 3 (RFC 8878 3.1.1.2).
  const reserved = Buffer.from(frames[0]!);
  const fhd = reserved[4]!;
  const singleSegment = (fhd >> 5) & 1;
  const headerLength = 5 + (singleSegment ? 0 : 1) + [0, 1, 2, 4][fhd & 3]! + [singleSegment, 2, 4, 8][fhd >> 6]!;
  reserved[headerLength] = reserved[headerLength]! | 0x06;
  await assert.rejects(cut(reserved, [4096]), /reserved zstd block type/);
});
