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
  ra.onRead(61);
  assert.deepEqual(asked, [62, 63, 64, 65]);
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
