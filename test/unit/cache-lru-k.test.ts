import { it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LruKCache } from '../../src/cache/lru-k.js';

function clock() {
  let t = 0;
  return { now: () => t, advance: (ms = 1000) => (t += ms) };
}

it('a sequential scan does not flush the hot set (unlike LRU)', () => {
  const c = clock();
  const cache = new LruKCache<string>({ maxBytes: 10, correlationMs: 10, now: c.now });
  for (const k of ['h1', 'h2', 'h3', 'h4']) cache.set(k, k, 1);
  c.advance();
  for (const k of ['h1', 'h2', 'h3', 'h4']) cache.get(k); // second use: protected
  for (let i = 0; i < 100; i++) {
    c.advance();
    cache.set(`scan${i}`, 'x', 1);
  }
  for (const k of ['h1', 'h2', 'h3', 'h4']) assert.ok(cache.has(k), `${k} survived the scan`);
  assert.equal(cache.usedBytes, 10);
});

it('references within the correlation period count once', () => {
  const c = clock();
  const cache = new LruKCache<string>({ maxBytes: 2, correlationMs: 100, now: c.now });
  cache.set('burst', 'b', 1);
  for (let i = 0; i < 50; i++) cache.get('burst'); // one burst: still a single use
  c.advance(1000);
  cache.set('other', 'o', 1);
  c.advance(1000);
  cache.get('other'); // two uses, far apart
  c.advance(1000);
  cache.set('new', 'n', 1); // evicts the once-used entry first
  assert.ok(!cache.has('burst'));
  assert.ok(cache.has('other'));
});

it('a key evicted and soon re-inserted is judged on its retained history', () => {
  const c = clock();
  const cache = new LruKCache<string>({ maxBytes: 2, correlationMs: 10, now: c.now });
  c.advance();
  cache.set('x', 'x', 1);
  c.advance();
  cache.set('y', 'y', 1);
  c.advance();
  cache.set('z', 'z', 1); // evicts x, keeps its history
  assert.ok(!cache.has('x'));
  c.advance();
  cache.set('x', 'x', 1); // back: a second use, so it now outranks once-used keys
  c.advance();
  cache.set('w', 'w', 1);
  assert.ok(cache.has('x'), 'x outlived the once-used keys');
  assert.ok(!cache.has('y') && !cache.has('z'));
});

it('never exceeds maxBytes and keeps its accounting straight (property)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ op: fc.constantFrom('get', 'set', 'delete'), key: fc.integer({ min: 0, max: 30 }), size: fc.integer({ min: 1, max: 40 }), dt: fc.integer({ min: 0, max: 500 }) }), { maxLength: 300 }),
      (ops) => {
        const c = clock();
        const cache = new LruKCache<number>({ maxBytes: 100, correlationMs: 50, now: c.now });
        for (const o of ops) {
          c.advance(o.dt);
          const k = String(o.key);
          if (o.op === 'set') {
            cache.set(k, o.key, o.size);
          } else if (o.op === 'get') {
            const v = cache.get(k);
            if (v !== undefined) assert.equal(v, o.key);
          } else cache.delete(k);
          assert.ok(cache.usedBytes <= 100);
        }
      },
    ),
    { seed: 3, numRuns: 300 },
  );
});
