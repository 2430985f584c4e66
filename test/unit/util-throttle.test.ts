// The progress throttle, on a clock the test moves by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Throttle } from '../../src/util/throttle.js';

test('the first event passes, then one per interval', () => {
  let now = 5;
  const t = new Throttle(100, () => now);
  const seen: number[] = [];
  for (const at of [5, 6, 104, 105, 150, 204, 205, 1000]) {
    now = at;
    if (t.due()) seen.push(at);
  }
  assert.deepEqual(seen, [5, 105, 205, 1000]);
});

test('a clock at zero still lets the first event through', () => {
  const t = new Throttle(100, () => 0);
  assert.equal(t.due(), true);
  assert.equal(t.due(), false);
});
