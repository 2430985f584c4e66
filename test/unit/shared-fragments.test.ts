// The shared tier's pure parts: fragments with XOR parity (any K of K+1 give
// the chunk back, headers refuse foreign or damaged values) and rendezvous
// placement (removing a node moves only the keys it held).
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { decodeFragment, encodeFragments, joinFragments, type Fragment } from '../../src/cache/shared/fragments.js';
import { rankNodes } from '../../src/cache/shared/rendezvous.js';

const digestOf = (b: Buffer) => createHash('sha256').update(b).digest('hex');

it('any K of K+1 fragments give the stored bytes back, for lengths that do not divide evenly', () => {
  for (const k of [1, 2, 3, 4, 7]) {
    for (const len of [1, 5, 4095, 65_537]) {
      const stored = randomBytes(len);
      const digest = digestOf(stored);
      const code = { k, m: 1 };
      const values = encodeFragments(digest, stored, code);
      assert.equal(values.length, k + 1);
      const frags = values.map((v, i) => decodeFragment(v, digest, i, code) as Fragment);
      for (const f of frags) assert.equal(typeof f, 'object');
      for (let lost = 0; lost <= k; lost++) {
        const got = joinFragments(frags.filter((_, i) => i !== lost), code);
        assert.ok(got?.equals(stored), `k=${k} len=${len} without fragment ${lost}`);
      }
      if (k > 1) assert.equal(joinFragments(frags.slice(2), code), null, 'two missing cannot be rebuilt');
    }
  }
});

it('a fragment header refuses short, foreign, misplaced and damaged values', () => {
  const stored = randomBytes(10_000);
  const digest = digestOf(stored);
  const code = { k: 4, m: 1 };
  const v = encodeFragments(digest, stored, code);
  assert.equal(decodeFragment(Buffer.from('short'), digest, 0, code), 'short');
  assert.equal(decodeFragment(Buffer.alloc(100), digest, 0, code), 'header');
  assert.equal(decodeFragment(v[0]!, 'ab'.repeat(32), 0, code), 'chunk');
  assert.equal(decodeFragment(v[0]!, digest, 0, { k: 3, m: 1 }), 'code');
  assert.equal(decodeFragment(v[1]!, digest, 0, code), 'place');
  assert.equal(decodeFragment(v[0]!.subarray(0, v[0]!.length - 1), digest, 0, code), 'length');
  const flipped = Buffer.from(v[2]!);
  flipped[flipped.length - 1]! ^= 0x80;
  assert.equal(decodeFragment(flipped, digest, 2, code), 'crc');
});

it('rendezvous placement: every node gets a share, and removing one moves only its keys', () => {
  const nodes = ['redis://a:1', 'redis://b:1', 'redis://c:1', 'redis://d:1', 'redis://e:1'];
  const keys = Array.from({ length: 2000 }, (_, i) => digestOf(Buffer.from(String(i))));
  const first = new Map(keys.map((k) => [k, nodes[rankNodes(nodes, k)[0]!]!]));
  for (const n of nodes) assert.ok([...first.values()].filter((x) => x === n).length > 250, `${n} gets a share`);
  const fewer = nodes.filter((n) => n !== 'redis://c:1');
  for (const k of keys) {
    const now = fewer[rankNodes(fewer, k)[0]!]!;
    if (first.get(k) !== 'redis://c:1') assert.equal(now, first.get(k), 'a key not on the removed node stays');
  }
});
