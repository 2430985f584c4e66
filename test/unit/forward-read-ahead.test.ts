// Read-ahead starts on forward scans only, stays `depth` chunks ahead, and
// never asks for a chunk twice or past the end.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ForwardReadAhead } from '../../src/blockdev/forward-read-ahead.js';

function recorder(count: number, depth: number) {
  const asked: number[] = [];
  const ra = new ForwardReadAhead(count, depth, async (i) => void asked.push(i));
  return { ra, asked };
}

test('a forward scan keeps depth chunks ahead, each asked once', () => {
  const { ra, asked } = recorder(100, 4);
  ra.onRead(10);
  assert.deepEqual(asked, []); // one read says nothing yet
  ra.onRead(10); // the same chunk again
  assert.deepEqual(asked, []);
  ra.onRead(11);
  assert.deepEqual(asked, [12, 13, 14, 15]);
  ra.onRead(12);
  assert.deepEqual(asked, [12, 13, 14, 15, 16]);
});

test('random reads ask for nothing; a jump restarts the detection', () => {
  const { ra, asked } = recorder(100, 4);
  for (const i of [50, 3, 77, 20, 60]) ra.onRead(i);
  assert.deepEqual(asked, []);
  for (const i of [90, 30, 10, 70, 40, 5, 95, 15, 85]) ra.onRead(i); // more streams than are followed
  assert.deepEqual(asked, []);
  ra.onRead(86);
  assert.deepEqual(asked, [87, 88, 89, 90]);
});

test('interleaved forward streams each get their read-ahead', () => {
  const { ra, asked } = recorder(1000, 2);
  for (const [a, b] of [[0, 500], [1, 501], [2, 502]]) {
    ra.onRead(a!);
    ra.onRead(b!);
  }
  assert.deepEqual(asked.sort((x, y) => x - y), [2, 3, 4, 502, 503, 504]);
});

test('never past the last chunk; depth 0 is off', () => {
  const { ra, asked } = recorder(10, 8);
  ra.onRead(7);
  ra.onRead(8);
  assert.deepEqual(asked, [9]);
  const off = recorder(10, 0);
  for (let i = 0; i < 10; i++) off.ra.onRead(i);
  assert.deepEqual(off.asked, []);
});
