import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseNumericField, parsePaxInteger, parsePaxTime } from '../../src/tar/numbers.js';
import { base256 } from '../helpers/tar-build.js';

const field = (s: string | Buffer) => {
  const b = typeof s === 'string' ? Buffer.from(s, 'latin1') : s;
  return parseNumericField(b, 0, b.length);
};

test('octal fields: padding, terminators, empty', () => {
  assert.equal(field('0000644\0'), 0o644);
  assert.equal(field('   644 \0'), 0o644);
  assert.equal(field('00000000012\0'), 10);
  assert.equal(field('777777777777'), 0o777777777777); // star: all 12 digits, no terminator
  assert.equal(field('\0\0\0\0\0\0\0\0'), 0);
  assert.equal(field('        '), 0);
});

test('octal fields: junk is NaN, huge is Infinity', () => {
  assert.ok(Number.isNaN(field('0000648\0')));
  assert.ok(Number.isNaN(field('12 34\0\0\0')));
  assert.ok(Number.isNaN(field('abc\0\0\0\0\0')));
  assert.equal(field('7777777777777777777777\0'), Infinity);
  assert.equal(field('0000000000000000000001\0'), 1);
});

test('base-256 fields: large, negative, limits', () => {
  assert.equal(field(base256(4294967294, 8)), 4294967294);
  assert.equal(field(base256(2 ** 40 + 5, 8)), 2 ** 40 + 5);
  assert.equal(field(base256(8 * 2 ** 30 + 1, 12)), 8 * 2 ** 30 + 1);
  assert.equal(field(base256(-1, 12)), -1);
  assert.equal(field(base256(-86400 * 365 * 50, 12)), -86400 * 365 * 50);
  assert.equal(field(base256(Number.MAX_SAFE_INTEGER, 12)), Number.MAX_SAFE_INTEGER);
  assert.equal(field(base256(2n ** 64n, 12)), Infinity);
  assert.equal(field(base256(-(2n ** 64n), 12)), -Infinity);
  assert.equal(field(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe])), -2);
});

test('pax integers', () => {
  assert.equal(parsePaxInteger(Buffer.from('12345')), 12345);
  assert.ok(Number.isNaN(parsePaxInteger(Buffer.from(''))));
  assert.ok(Number.isNaN(parsePaxInteger(Buffer.from('-1'))));
  assert.ok(Number.isNaN(parsePaxInteger(Buffer.from('1 '))));
  assert.equal(parsePaxInteger(Buffer.from('99999999999999999999')), Infinity);
});

test('pax times: fractions, negatives, junk', () => {
  const t = (s: string) => parsePaxTime(Buffer.from(s));
  assert.deepEqual(t('1577934245.123456789'), { sec: 1577934245, nsec: 123456789 });
  assert.deepEqual(t('1577934245.5'), { sec: 1577934245, nsec: 500000000 });
  assert.deepEqual(t('1577934245'), { sec: 1577934245, nsec: 0 });
  assert.deepEqual(t('1.1234567899999'), { sec: 1, nsec: 123456789 });
  assert.deepEqual(t('-1.25'), { sec: -2, nsec: 750000000 });
  assert.deepEqual(t('-0.5'), { sec: -1, nsec: 500000000 });
  assert.deepEqual(t('-100'), { sec: -100, nsec: 0 });
  assert.deepEqual(t('-0'), { sec: 0, nsec: 0 });
  for (const bad of ['', '-', '.5', '1.', '1.2.3', '1e5', '+1', ' 1', '1x', '99999999999999999999']) {
    assert.equal(t(bad), null, bad);
  }
});
