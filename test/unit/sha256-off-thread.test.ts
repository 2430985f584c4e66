import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { OffThreadSha256 } from '../../src/util/sha256-off-thread.js';

async function feed(h: OffThreadSha256, data: Buffer, sizes: number[]): Promise<void> {
  for (let at = 0, k = 0; at < data.length; k++) {
    const n = Math.min(sizes[k % sizes.length]!, data.length - at);
    const waited = h.update(data.subarray(at, at + n));
    if (waited !== undefined) await waited;
    at += n;
  }
}

test('OffThreadSha256 gives createHash digests for any chunking, two streams at once, and empty input', async () => {
  // More than the batches it holds (4 x 1 MiB), so it waits for the worker.
  const a = randomBytes(9 * (1 << 20) + 12345);
  const b = randomBytes(3 * (1 << 20) + 1);
  const want = (x: Buffer) => createHash('sha256').update(x).digest('hex');
  const ha = new OffThreadSha256();
  const hb = new OffThreadSha256();
  await Promise.all([feed(ha, a, [1, 65536, 3 << 20, 511]), feed(hb, b, [1 << 20])]);
  assert.equal(await ha.digest(), want(a));
  assert.equal(await hb.digest(), want(b));
  assert.equal(await new OffThreadSha256().digest(), want(Buffer.alloc(0)));
});
