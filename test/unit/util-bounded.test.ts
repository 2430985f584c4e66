import { test } from 'node:test';
import assert from 'node:assert/strict';
import { forEachBounded } from '../../src/util/bounded.js';

const tick = () => new Promise((r) => setImmediate(r));

test('forEachBounded: every item once, never more than the limit at a time', async () => {
  const items = Array.from({ length: 50 }, (_, i) => i);
  const seen: number[] = [];
  let running = 0, most = 0;
  await forEachBounded(items, 4, async (x, i) => {
    assert.equal(x, i);
    running++;
    most = Math.max(most, running);
    await tick();
    seen.push(x);
    running--;
  });
  assert.deepEqual([...seen].sort((a, b) => a - b), items);
  assert.equal(most, 4);
  await forEachBounded([], 4, async () => assert.fail('no items, no calls'));
});

test('forEachBounded: the first failure stops new items and is thrown after the calls under way settle', async () => {
  const started: number[] = [];
  let settled = 0;
  await assert.rejects(
    forEachBounded(Array.from({ length: 20 }, (_, i) => i), 3, async (x) => {
      started.push(x);
      await tick();
      if (x === 1) throw new Error('boom');
      await tick();
      settled++;
    }),
    /boom/,
  );
  assert.deepEqual(started, [0, 1, 2], 'nothing new starts after the failure');
  assert.equal(settled, 2, 'the other calls under way finished before the throw');
});

test('forEachBounded: an aborted signal stops new items; the calls under way finish and nothing is thrown', async () => {
  const stop = new AbortController();
  const started: number[] = [];
  let settled = 0;
  await forEachBounded(Array.from({ length: 20 }, (_, i) => i), 3, async (x) => {
    started.push(x);
    if (x === 4) stop.abort();
    await tick();
    settled++;
  }, stop.signal);
  assert.deepEqual(started, [0, 1, 2, 3, 4]);
  assert.equal(settled, 5);
});
