import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Chunker } from '../../src/chunk/chunker.js';
import { ChunkSink } from '../../src/sink/chunk-sink.js';
import { DirStore } from '../../src/store/dir/dir-store.js';

const CHUNK = 64 * 1024;
const HEAD = 4 * CHUNK;

/** The recipe's chunks after the writes `drive` makes into a fresh sink. */
async function chunksOf(dir: string, drive: (sink: ChunkSink) => Promise<void>) {
  const chunker = new Chunker(new DirStore(dir), { chunkSize: CHUNK, compression: 'none', encryption: 'none', workers: 1 });
  const sink = new ChunkSink(chunker);
  await drive(sink);
  await sink.finish();
  const recipe = await chunker.finish(sink.imageSize, {});
  return { size: recipe.imageSize, chunks: recipe.chunks.map((c) => [c.index, c.digest]) };
}

test('ChunkSink: a held head written last, with the size given late, cuts the same chunks as writes in order', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smr-chunk-sink-'));
  try {
    const header = randomBytes(5000); // inside the first chunk; chunks 1..3 stay zero
    const body = randomBytes(2 * CHUNK + 777); // crosses chunk boundaries, ends mid-chunk
    const tail = randomBytes(300);
    const tailAt = HEAD + 5 * CHUNK + 100; // a zero chunk between body and tail
    const total = HEAD + 7 * CHUNK - 12; // last chunk short
    const inOrder = await chunksOf(join(dir, 'a'), async (s) => {
      await s.begin(total);
      await s.write(0, header);
      await s.write(HEAD, body);
      await s.write(tailAt, tail);
    });
    const held = await chunksOf(join(dir, 'b'), async (s) => {
      await s.beginHeld(HEAD);
      await s.write(HEAD, body);
      await s.resize(total);
      await s.write(0, header);
      await s.write(tailAt, tail);
    });
    assert.deepEqual(held, inOrder);
    assert.deepEqual(inOrder.chunks.map((c) => c[0]), [0, 4, 5, 6, 9]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
