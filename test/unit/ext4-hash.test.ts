// The htree name hash must match the kernel's bit for bit; e2fsprogs'
// debugfs computes the same function (dx_hash), so it is the peer here.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { dirHash, seedWords } from '../../src/ext4/hash.js';
import { haveCommand } from '../helpers/run.js';

function debugfsHash(name: Buffer, seedHex: string): number {
  const uuid = `${seedHex.slice(0, 8)}-${seedHex.slice(8, 12)}-${seedHex.slice(12, 16)}-${seedHex.slice(16, 20)}-${seedHex.slice(20)}`;
  // -h 4 = half_md4 with unsigned chars, what our superblock's s_flags select.
  // Names go through argv, so they must be valid UTF-8 without spaces.
  const out = execFileSync('debugfs', ['-R', `dx_hash -h 4 -s ${uuid} ${name.toString('utf8')}`, '/dev/null'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const m = /is 0x([0-9a-f]+)/.exec(out);
  assert.ok(m, out);
  return parseInt(m[1]!, 16);
}

it('dirHash equals debugfs dx_hash for random names and seeds', { skip: haveCommand('debugfs') ? false : 'debugfs missing' }, () => {
  const nameArb = fc
    .array(fc.oneof(fc.constantFrom(...'abcxyz019._-+'), fc.constantFrom('é', 'ß', '日', '€')), { minLength: 1, maxLength: 80 })
    .map((cs) => Buffer.from(cs.join(''), 'utf8'))
    .filter((b) => b.length <= 255 && b[0] !== 0x2d); // a leading '-' would be a debugfs option
  fc.assert(
    fc.property(nameArb, fc.uint8Array({ minLength: 16, maxLength: 16 }), (name, seed) => {
      const seedHex = Buffer.from(seed).toString('hex');
      assert.equal(dirHash(name, seedWords(Buffer.from(seed))), debugfsHash(name, seedHex));
    }),
    { numRuns: 60, seed: 42 },
  );
});

it('dirHash with an all-zero seed uses the default seed, as the kernel does', () => {
  const zero = new Uint32Array(4);
  const h = dirHash(Buffer.from('hello'), zero);
  assert.equal(h % 2, 0);
  if (haveCommand('debugfs')) assert.equal(h, debugfsHash(Buffer.from('hello'), '00000000000000000000000000000000'));
});
