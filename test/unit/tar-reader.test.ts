// TarReader against archives built field by field (test/helpers/tar-build.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TarReader } from '../../src/tar/index.js';
import {
  archive,
  base256,
  BLOCK,
  endMarker,
  entry,
  gnuLong,
  header,
  pax,
  paxBody,
  pieces,
  kitchenSink,
  setChecksum,
} from '../helpers/tar-build.js';
import { collect, expectTarError } from '../helpers/tar-collect.js';

const T = { timeout: 10_000 };

test('ustar: every entry type, modes, owners, devices, bodies', T, async () => {
  const tar = archive(
    entry({ name: 'dir/', typeflag: '5', mode: 0o40755 }),
    entry({ name: 'dir/file', mode: 0o104755, uid: 1000, gid: 2000, mtime: 1234567890 }, 'hello'),
    entry({ name: 'dir/old', typeflag: '\0' }, 'x'.repeat(513)),
    entry({ name: 'dir/contig', typeflag: '7' }, 'c'),
    entry({ name: 'dir/hard', typeflag: '1', linkname: 'dir/file' }),
    entry({ name: 'dir/sym', typeflag: '2', linkname: '../target', mode: 0o777 }),
    entry({ name: 'dev/null', typeflag: '3', devmajor: 1, devminor: 3, mode: 0o666 }),
    entry({ name: 'dev/loop7', typeflag: '4', devmajor: 7, devminor: 7 }),
    entry({ name: 'fifo', typeflag: '6' }),
  );
  const got = await collect(pieces(tar));
  assert.deepEqual(
    got.map((e) => [e.path, e.type, e.mode, e.size, e.linkname, e.devmajor, e.devminor]),
    [
      ['dir/', 'dir', 0o755, 0, '', 0, 0],
      ['dir/file', 'file', 0o4755, 5, '', 0, 0],
      ['dir/old', 'file', 0o644, 513, '', 0, 0],
      ['dir/contig', 'file', 0o644, 1, '', 0, 0],
      ['dir/hard', 'hardlink', 0o644, 0, 'dir/file', 0, 0],
      ['dir/sym', 'symlink', 0o777, 0, '../target', 0, 0],
      ['dev/null', 'char', 0o666, 0, '', 1, 3],
      ['dev/loop7', 'block', 0o644, 0, '', 7, 7],
      ['fifo', 'fifo', 0o644, 0, '', 0, 0],
    ],
  );
  const f = got[1]!;
  assert.equal(f.body!.toString(), 'hello');
  assert.deepEqual([f.uid, f.gid, f.mtime], [1000, 2000, { sec: 1234567890, nsec: 0 }]);
  assert.equal(got[2]!.body!.toString(), 'x'.repeat(513));
  assert.deepEqual(
    got.map((e) => e.headerOffset),
    [0, 512, 1536, 3072, 4096, 4608, 5120, 5632, 6144],
  );
  assert.equal(f.atime, undefined);
});

test('ustar prefix, star prefix; GNU headers ignore the prefix area', T, async () => {
  const p = 'p'.repeat(155);
  const got = await collect(
    pieces(
      archive(
        entry({ name: 'n'.repeat(100), prefix: p }, 'a'),
        entry({ name: 'file', prefix: 'a/b', magic: 'star' }),
        entry({ name: 'gnu', prefix: 'ignored', magic: 'gnu' }),
        entry({ name: 'v7', prefix: 'ignored', magic: 'v7' }),
      ),
    ),
  );
  assert.deepEqual(
    got.map((e) => e.path),
    [`${p}/${'n'.repeat(100)}`, 'a/b/file', 'gnu', 'v7'],
  );
});

test('old tars: no magic, trailing slash means directory, its data is skipped', T, async () => {
  const got = await collect(
    pieces(
      archive(
        entry({ name: 'd/', typeflag: '\0', magic: 'v7', mode: 0o755 }),
        entry({ name: 'd2/', typeflag: '0', magic: 'v7' }, 'junk that a directory carries'),
        entry({ name: 'd/f', typeflag: '\0', magic: 'v7' }, 'data'),
        entry({ name: 'd/l', typeflag: '1', magic: 'v7', linkname: 'd/f' }),
        entry({ name: 'd/c', typeflag: '3', magic: 'v7', devmajor: 1, devminor: 2 }),
      ),
    ),
  );
  assert.deepEqual(
    got.map((e) => [e.path, e.type, e.size, e.devmajor]),
    [
      ['d/', 'dir', 0, 0],
      ['d2/', 'dir', 0, 0],
      ['d/f', 'file', 4, 0],
      ['d/l', 'hardlink', 0, 0],
      ['d/c', 'char', 0, 0], // v7 has no device fields
    ],
  );
  assert.equal(got[2]!.body!.toString(), 'data');
});

test('a size on a link, device, fifo or directory header carries no data (as Go reads it)', T, async () => {
  const got = await collect(
    pieces(
      archive(
        header({ name: 'l', typeflag: '1', linkname: 'x', size: 100 }),
        header({ name: 'd/', typeflag: '5', size: 4096 }),
        entry({ name: 'f' }, 'after'),
      ),
    ),
  );
  assert.deepEqual(
    got.map((e) => [e.path, e.size]),
    [
      ['l', 0],
      ['d/', 0],
      ['f', 5],
    ],
  );
  assert.equal(got[2]!.body!.toString(), 'after');
});

test('GNU long names and long link targets; base-256 numbers', T, async () => {
  const long = 'dir-'.repeat(30) + '/' + 'é'.repeat(10) + 'x'.repeat(200); // latin1 bytes
  const target = 't'.repeat(300);
  const tar = archive(
    gnuLong('L', long),
    gnuLong('K', target),
    entry({ name: long.slice(0, 100), typeflag: '2', magic: 'gnu', linkname: target.slice(0, 100) }),
    gnuLong('L', long + '/hard'),
    entry({ name: 'short', typeflag: '1', linkname: 'short-target', magic: 'gnu' }),
    entry(
      {
        name: 'big-owner',
        magic: 'gnu',
        uid: base256(4294967294, 8),
        gid: base256(2 ** 40, 8),
        mtime: base256(-86400, 12),
        size: base256(3, 12),
      },
      'abc',
    ),
    entry({ name: 'after' }, 'z'),
  );
  const got = await collect(pieces(tar, [7, 300, 1]));
  assert.equal(got.length, 4);
  assert.deepEqual([got[0]!.path, got[0]!.type, got[0]!.linkname], [long, 'symlink', target]);
  assert.deepEqual([got[1]!.path, got[1]!.linkname], [long + '/hard', 'short-target']);
  assert.deepEqual([got[2]!.uid, got[2]!.gid, got[2]!.mtime, got[2]!.size], [4294967294, 2 ** 40, { sec: -86400, nsec: 0 }, 3]);
  assert.equal(got[2]!.body!.toString(), 'abc');
  assert.equal(got[3]!.path, 'after');
});

test('a GNU size over 8 GiB streams through skipBody and readBody', T, async () => {
  const size = 8 * 2 ** 30 + 3;
  const head = Buffer.concat([header({ name: 'huge', magic: 'gnu', size: base256(size, 12) })]);
  const tail = archive(entry({ name: 'next' }, 'n'));
  const zeros = Buffer.alloc(1 << 20);
  async function* src(): AsyncGenerator<Buffer> {
    yield head;
    let left = size + (BLOCK - (size % BLOCK));
    while (left > 0) {
      const n = Math.min(left, zeros.length);
      yield zeros.subarray(0, n);
      left -= n;
    }
    yield tail;
  }
  for (const mode of ['skip', 'read'] as const) {
    const r = new TarReader(src());
    const e = await r.next();
    assert.equal(e!.size, size);
    let n = 0;
    if (mode === 'read') await r.readBody((c) => void (n += c.length));
    else await r.skipBody();
    if (mode === 'read') assert.equal(n, size);
    assert.equal((await r.next())!.path, 'next');
    assert.equal(await r.next(), null);
  }
});

test('pax: path, linkpath, size, owners, times with nanoseconds, xattrs with any bytes', T, async () => {
  const nasty = Buffer.from([0, 10, 0x3d, 0xff, 10, 10, 0x20, 0x31]);
  const tar = archive(
    pax([
      ['path', Buffer.from('caf\xe9/\xff\xfe name', 'latin1')],
      ['uid', '4294967294'],
      ['gid', '70000'],
      ['size', '700'],
      ['mtime', '1577934245.123456789'],
      ['atime', '-1.25'],
      ['ctime', '1600000000.5'],
      ['SCHILY.xattr.user.nasty', nasty],
      ['SCHILY.xattr.security.capability', Buffer.from('0100000200200000000000000000000000000000', 'hex')],
      ['SCHILY.xattr.user.empty', ''],
      ['LIBARCHIVE.xattr.user.%E2%9C%93%20x', Buffer.from('aGVsbG8').toString()],
      ['comment', 'ignored'],
      ['hdrcharset', 'BINARY'],
      ['uname', 'someone'],
      ['SCHILY.some.future.thing', 'ignored'],
    ]),
    entry({ name: 'short-name', size: 0 }, Buffer.alloc(700, 7)),
    pax([['linkpath', 'L'.repeat(400)]]),
    entry({ name: 'link', typeflag: '2', linkname: 'short' }),
    pax([
      ['SCHILY.devmajor', '4096'],
      ['SCHILY.devminor', '1048576'],
    ]),
    entry({ name: 'bigdev', typeflag: '4' }),
    entry({ name: 'plain' }, 'p'),
  );
  const got = await collect(pieces(tar, [100, 513, 1]));
  assert.equal(got.length, 4);
  const [f, l, d, p] = got as [(typeof got)[0], (typeof got)[0], (typeof got)[0], (typeof got)[0]];
  assert.equal(f.path, 'caf\xe9/\xff\xfe name');
  assert.deepEqual([f.uid, f.gid, f.size], [4294967294, 70000, 700]);
  assert.deepEqual(f.body, Buffer.alloc(700, 7));
  assert.deepEqual(f.mtime, { sec: 1577934245, nsec: 123456789 });
  assert.deepEqual(f.atime, { sec: -2, nsec: 750000000 });
  assert.deepEqual(f.ctime, { sec: 1600000000, nsec: 500000000 });
  assert.deepEqual(f.xattrs, {
    'user.nasty': nasty.toString('hex'),
    'security.capability': '0100000200200000000000000000000000000000',
    'user.empty': '',
    'user.✓ x': Buffer.from('hello').toString('hex'),
  });
  assert.deepEqual([l.type, l.linkname], ['symlink', 'L'.repeat(400)]);
  assert.deepEqual([d.devmajor, d.devminor], [4096, 1048576]);
  // Per-entry records do not leak into the next entry.
  assert.deepEqual([p.path, p.uid, p.xattrs, p.mtime.nsec], ['plain', 0, {}, 0]);
});

test("pax: the size record wins over the header's, in both directions", T, async () => {
  const tar = archive(pax([['size', '3']]), entry({ name: 'a', size: 999 }, Buffer.alloc(0)), entry({ name: 'b' }, 'bbb'));
  // Header says 999 but pax says 3: exactly 3 data bytes (one block) follow.
  const fixed = Buffer.concat([tar.subarray(0, 1024 + 512), Buffer.from('aaa'), Buffer.alloc(509), tar.subarray(1024 + 512)]);
  const got = await collect(pieces(fixed));
  assert.deepEqual(
    got.map((e) => [e.path, e.size, e.body!.toString()]),
    [
      ['a', 3, 'aaa'],
      ['b', 3, 'bbb'],
    ],
  );
});

test("pax globals apply to later entries; 'x' empty values mask them; 'g' empty values delete", T, async () => {
  const tar = archive(
    pax(
      [
        ['uid', '42'],
        ['mtime', '5.5'],
        ['SCHILY.xattr.user.g', 'global'],
      ],
      'g',
    ),
    entry({ name: 'one' }),
    pax([['mtime', '']]),
    entry({ name: 'two', mtime: 77 }),
    pax([['uid', '']], 'g'),
    entry({ name: 'three', uid: 9 }),
    pax([['path', 'four']], 'X'), // Solaris spelling of 'x'
    entry({ name: 'ignored' }),
  );
  const got = await collect(pieces(tar));
  assert.deepEqual(
    got.map((e) => [e.path, e.uid, e.mtime, e.xattrs]),
    [
      ['one', 42, { sec: 5, nsec: 500000000 }, { 'user.g': Buffer.from('global').toString('hex') }],
      ['two', 42, { sec: 77, nsec: 0 }, { 'user.g': Buffer.from('global').toString('hex') }],
      ['three', 9, { sec: 5, nsec: 500000000 }, { 'user.g': Buffer.from('global').toString('hex') }],
      ['four', 0, { sec: 5, nsec: 500000000 }, { 'user.g': Buffer.from('global').toString('hex') }],
    ],
  );
});

test('a global header may not set path, linkpath or size', T, async () => {
  for (const k of ['path', 'linkpath', 'size']) {
    const tar = archive(entry({ name: 'a' }), pax([[k, '1']], 'g'), entry({ name: 'b' }));
    await expectTarError(() => collect(pieces(tar)), 'TAR_UNSUPPORTED', new RegExp(`global pax header at offset 512 sets ${k}`));
  }
});

test('a global header at the very end is fine; pax with trailing NUL padding is fine', T, async () => {
  const padded = entry({ name: 'P', typeflag: 'x' }, Buffer.concat([paxBody([['path', 'padded']]), Buffer.alloc(20)]));
  const got = await collect(pieces(archive(padded, entry({ name: 'x' }), pax([['comment', 'bye']], 'g'))));
  assert.deepEqual(
    got.map((e) => e.path),
    ['padded'],
  );
});

test('end of archive: two zero blocks, one, none; data after the end is drained, not parsed', T, async () => {
  const one = entry({ name: 'a' }, 'a');
  for (const tail of [endMarker(2), endMarker(1), Buffer.alloc(0), Buffer.concat([endMarker(2), Buffer.from('garbage after the end')])]) {
    const input = Buffer.concat([one, tail]);
    let seen = 0;
    const r = new TarReader(pieces(input, [300]), { onInput: (c) => void (seen += c.length) });
    assert.equal((await r.next())!.path, 'a');
    assert.equal(await r.next(), null);
    assert.equal(await r.next(), null);
    assert.equal(r.bytesRead, input.length);
    assert.equal(seen, input.length);
  }
  const empty = new TarReader(pieces(Buffer.alloc(0)));
  assert.equal(await empty.next(), null);
  // Without draining, reading stops at the marker.
  const r = new TarReader(pieces(Buffer.concat([one, endMarker(2), Buffer.alloc(10240)]), [512]), { drain: false });
  await r.next();
  assert.equal(await r.next(), null);
  assert.equal(r.bytesRead, one.length + 1024);
});

test('a lone zero block followed by a header is an error', T, async () => {
  const tar = Buffer.concat([entry({ name: 'a' }), endMarker(1), entry({ name: 'b' }), endMarker(2)]);
  await expectTarError(() => collect(pieces(tar)), 'TAR_BAD_HEADER', /zero block at offset 512 is followed by a non-zero block at offset 1024/);
});

test('checksums: signed sums accepted, wrong sums rejected with the entry and offset', T, async () => {
  const signed = header({ name: 'h\xe9\xe9\xe9', checksum: 'signed' });
  const got = await collect(pieces(archive(entry({ name: 'a' }), signed)));
  assert.deepEqual(
    got.map((e) => e.path),
    ['a', 'h\xe9\xe9\xe9'],
  );
  const bad = archive(entry({ name: 'a' }, 'x'), header({ name: 'usr/bin/x', checksum: 'bad' }));
  const e = await expectTarError(() => collect(pieces(bad)), 'TAR_BAD_CHECKSUM');
  assert.equal(e.message, "Cannot read the tar stream: entry 'usr/bin/x' at offset 1024 has an invalid header checksum");
  const garbage = Buffer.concat([entry({ name: 'a' }), Buffer.alloc(512, 0x41)]);
  await expectTarError(() => collect(pieces(garbage)), 'TAR_BAD_CHECKSUM', /at offset 512/);
});

test('truncation: inside a header, a body, the padding, after an extended header', T, async () => {
  const tar = archive(entry({ name: 'a' }, 'x'.repeat(600)), entry({ name: 'b' }));
  await expectTarError(() => collect(pieces(tar.subarray(0, 100))), 'TAR_TRUNCATED', /ends inside the header at offset 0/);
  await expectTarError(
    () => collect(pieces(tar.subarray(0, 700))),
    'TAR_TRUNCATED',
    /^Cannot read the tar stream: entry 'a' at offset 0 is cut short: the stream ends at offset 700, inside its 600-byte body$/,
  );
  await expectTarError(() => collect(pieces(tar.subarray(0, 1200))), 'TAR_TRUNCATED', /entry 'a' at offset 0 is cut short/);
  await expectTarError(() => collect(pieces(tar.subarray(0, 1636))), 'TAR_TRUNCATED', /inside the header at offset 1536/);
  // skipBody and next() see the same truncation.
  const r = new TarReader(pieces(tar.subarray(0, 700)));
  await r.next();
  await expectTarError(() => r.skipBody(), 'TAR_TRUNCATED');
  const withPax = Buffer.concat([pax([['path', 'p']]), gnuLong('L', 'x')]);
  await expectTarError(() => collect(pieces(withPax)), 'TAR_TRUNCATED', /after the extended header at offset 0, before the entry/);
  await expectTarError(() => collect(pieces(withPax.subarray(0, 600))), 'TAR_TRUNCATED', /inside the extended header at offset 0|PaxHeader/);
  await expectTarError(() => collect(pieces(Buffer.concat([pax([['path', 'p']]), endMarker()]))), 'TAR_BAD_HEADER', /followed by the end of the archive/);
  await expectTarError(() => collect(pieces(Buffer.concat([entry({ name: 'a' }), endMarker(1), Buffer.alloc(5)]))), 'TAR_TRUNCATED', /end-of-archive marker/);
});

test('bad pax records are TAR_BAD_HEADER naming the header offset', T, async () => {
  const rec = (body: string | Buffer) => archive(entry({ name: 'P', typeflag: 'x' }, body), entry({ name: 'a' }));
  const cases: Array<[string | Buffer, RegExp]> = [
    ['11 path=abc', /no newline/],
    ['99 path=abc\n', /does not fit/],
    ['x path=abc\n', /no length/],
    ['11 pathabc\n', /no keyword/],
    ['6 =ab\n', /no keyword/],
    ['3 a\n', /does not fit/],
    ['12path=abc\n\n', /no length/],
  ];
  for (const [body, why] of cases) {
    await expectTarError(() => collect(pieces(rec(body))), 'TAR_BAD_HEADER', new RegExp(`pax extended header at offset 0 .*${why.source}`));
  }
  const value = (k: string, v: string | Buffer) => archive(pax([[k, v]]), entry({ name: 'a' }));
  await expectTarError(() => collect(pieces(value('path', 'a\0b'))), 'TAR_BAD_HEADER', /entry 'a' at offset 1024 has a pax record path with a NUL byte/);
  await expectTarError(() => collect(pieces(value('size', '-5'))), 'TAR_BAD_HEADER', /record size that is not a number/);
  await expectTarError(() => collect(pieces(value('uid', '1.5'))), 'TAR_BAD_HEADER', /record uid/);
  await expectTarError(() => collect(pieces(value('mtime', 'yesterday'))), 'TAR_BAD_HEADER', /record mtime that is not a time/);
  await expectTarError(() => collect(pieces(value('size', '99999999999999999999'))), 'TAR_UNSUPPORTED', /larger than 2\^53/);
  await expectTarError(() => collect(pieces(value('GNU.sparse.major', '1'))), 'TAR_UNSUPPORTED', /GNU sparse/);
  await expectTarError(() => collect(pieces(value('LIBARCHIVE.xattr.user.%zz', 'AA'))), 'TAR_BAD_HEADER', /malformed name/);
});

test('bad header fields, unknown and unsupported types', T, async () => {
  const bad = (spec: Parameters<typeof header>[0]) => archive(header(spec));
  await expectTarError(() => collect(pieces(bad({ name: 'm', mode: Buffer.from('12x\0') }))), 'TAR_BAD_HEADER', /entry 'm' at offset 0 has an invalid mode field/);
  await expectTarError(() => collect(pieces(bad({ name: 's', size: Buffer.from('9\0') }))), 'TAR_BAD_HEADER', /invalid size field/);
  await expectTarError(() => collect(pieces(bad({ name: 's', size: base256(-5, 12) }))), 'TAR_BAD_HEADER', /negative size/);
  await expectTarError(() => collect(pieces(bad({ name: 's', size: base256(2n ** 60n, 12) }))), 'TAR_UNSUPPORTED', /larger than 2\^53/);
  await expectTarError(() => collect(pieces(bad({ name: 'u', uid: base256(-1, 8) }))), 'TAR_BAD_HEADER', /owner out of range/);
  await expectTarError(() => collect(pieces(bad({ name: 'z', typeflag: 'Z' }))), 'TAR_BAD_HEADER', /entry 'z' at offset 0 has an unknown type 'Z'/);
  await expectTarError(() => collect(pieces(bad({ name: 'z', typeflag: '\x01' }))), 'TAR_BAD_HEADER', /unknown type byte 1/);
  await expectTarError(() => collect(pieces(bad({ name: 'sp', typeflag: 'S', magic: 'gnu' }))), 'TAR_UNSUPPORTED', /entry 'sp' at offset 0 is a GNU sparse file/);
  await expectTarError(() => collect(pieces(bad({ name: 'v', typeflag: 'V', magic: 'gnu' }))), 'TAR_UNSUPPORTED', /volume label/);
  const devBad = header({ name: 'c', typeflag: '3' });
  Buffer.from('zz\0').copy(devBad, 329);
  setChecksum(devBad);
  await expectTarError(() => collect(pieces(archive(devBad))), 'TAR_BAD_HEADER', /invalid devmajor/);
  const big = archive(entry({ name: 'L', typeflag: 'L' }, Buffer.alloc(2000, 0x61)), entry({ name: 'a' }));
  await expectTarError(() => collect(pieces(big), { maxMetaSize: 1000 }), 'TAR_UNSUPPORTED', /2000-byte body, over the 1000-byte limit/);
});

test('names are escaped in messages', T, async () => {
  const tar = archive(header({ name: "it's\n\xff", checksum: 'bad' }));
  const e = await expectTarError(() => collect(pieces(tar)), 'TAR_BAD_CHECKSUM');
  assert.match(e.message, /entry 'it\\x27s\\x0a\\xff' at offset 0/);
});

test('errors are sticky; consumer errors are not', T, async () => {
  const tar = archive(entry({ name: 'a' }, 'aaaa'), entry({ name: 'b' }, 'bbbb'), header({ name: 'c', checksum: 'bad' }));
  const r = new TarReader(pieces(tar));
  await r.next();
  await assert.rejects(
    r.readBody(() => {
      throw new Error('consumer says no');
    }),
    /consumer says no/,
  );
  assert.equal((await r.next())!.path, 'b');
  const e1 = await expectTarError(() => r.next(), 'TAR_BAD_CHECKSUM');
  const e2 = await expectTarError(() => r.next(), 'TAR_BAD_CHECKSUM');
  assert.equal(e1, e2);
});

test('input errors pass through unchanged', T, async () => {
  const boom = new Error('socket hang up');
  async function* src(): AsyncGenerator<Buffer> {
    yield entry({ name: 'a' }, 'x'.repeat(1000)).subarray(0, 700);
    throw boom;
  }
  const r = new TarReader(src());
  await r.next();
  await assert.rejects(r.readBody(() => {}), (e) => e === boom);
});

test('readBody hands out views of the input, awaits the consumer, and entries skip unread bodies', T, async () => {
  const tar = archive(entry({ name: 'a' }, Buffer.alloc(3000, 1)), entry({ name: 'b' }, Buffer.alloc(100, 2)), entry({ name: 'c' }, 'c'));
  const chunks = [...(function* () {
    for (let i = 0; i < tar.length; i += 1024) yield Buffer.from(tar.subarray(i, i + 1024));
  })()];
  async function* src(): AsyncGenerator<Buffer> {
    yield* chunks;
  }
  const r = new TarReader(src());
  await r.next();
  const log: string[] = [];
  await r.readBody(async (c) => {
    assert.ok(chunks.some((k) => k.buffer === c.buffer), 'a view, not a copy');
    log.push(`start ${c.length}`);
    await new Promise((res) => setTimeout(res, 2));
    log.push('end');
  });
  assert.deepEqual(log, ['start 512', 'end', 'start 1024', 'end', 'start 1024', 'end', 'start 440', 'end']);
  await r.readBody(() => assert.fail('the body was read already'));
  assert.equal((await r.next())!.path, 'b'); // body of b never read
  assert.equal((await r.next())!.path, 'c');
  assert.equal(await r.next(), null);
});

test('overlapping calls are refused; close releases the input', T, async () => {
  let returned = false;
  const tar = archive(entry({ name: 'a' }, 'aaaa'));
  const src: AsyncIterable<Buffer> = {
    [Symbol.asyncIterator]() {
      const inner = pieces(tar, [10]);
      return {
        next: () => inner.next(),
        return: async () => {
          returned = true;
          return { done: true, value: undefined };
        },
      };
    },
  };
  const r = new TarReader(src);
  const p = r.next();
  await assert.rejects(r.next(), /already in progress/);
  assert.equal((await p)!.path, 'a');
  const r2 = new TarReader(src);
  await r2.next();
  await r2.close();
  assert.ok(returned);
  assert.equal(await r2.next(), null);
});

test('Uint8Array chunks are accepted; other chunk types are a TypeError', T, async () => {
  const tar = archive(entry({ name: 'u8' }, 'z'));
  async function* u8(): AsyncGenerator<Uint8Array> {
    yield new Uint8Array(tar.buffer, tar.byteOffset, tar.length);
  }
  assert.equal((await collect(u8()))[0]!.path, 'u8');
  async function* str(): AsyncGenerator<unknown> {
    yield 'a string';
  }
  await assert.rejects(new TarReader(str() as AsyncIterable<Uint8Array>).next(), TypeError);
});

test('every split point and every piece size gives the same entries', T, async () => {
  const tar = kitchenSink();
  const want = await collect(pieces(tar));
  assert.equal(want.length, 7);
  for (let at = 1; at < tar.length; at++) {
    const got = await collect(pieces(tar, [at, tar.length]));
    assert.deepEqual(got, want, `split at ${at}`);
  }
  for (let size = 1; size <= 600; size++) {
    const got = await collect(pieces(tar, [size]));
    assert.deepEqual(got, want, `pieces of ${size}`);
  }
});
