// decompressStream / decompressChunks: sniffing, gzip members, zstd frames
// (node:zlib), with every gzip engine available here, and errors that name
// the stream.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { availableGzipEngines, decompressChunks, decompressStream, sniffCompression, TarReader } from '../../src/tar/index.js';
import { fixtureLayout, fixturesJson, skipWithoutFixtures } from '../helpers/fixtures.js';
import { decompressAll, gzip, haveZstdCli, skippableFrame, zstd } from '../helpers/tar-compress.js';
import { expectTarError, smrErrorOf } from '../helpers/tar-collect.js';

const T = { timeout: 30_000 };
const noZstd = haveZstdCli ? false : 'the zstd CLI is not installed (apt-get install zstd)';
// Compressible but not trivial.
const DATA = Buffer.concat(Array.from({ length: 200 }, (_, i) => Buffer.from(`line ${i} ${'abc'.repeat(i % 17)}\n`)).concat([randomBytes(5000)]));

test('sniffing', () => {
  const s = (...b: number[]) => sniffCompression(Buffer.from(b));
  assert.equal(s(0x1f, 0x8b, 8), 'gzip');
  assert.equal(s(0x28, 0xb5, 0x2f, 0xfd), 'zstd');
  assert.equal(s(0x5a, 0x2a, 0x4d, 0x18, 0, 0, 0, 0), 'zstd');
  assert.equal(s(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00), 'xz');
  assert.equal(sniffCompression(Buffer.from('BZh91AY&SY')), 'bzip2');
  assert.equal(sniffCompression(Buffer.from('BZh91AY&SX')), 'none');
  assert.equal(sniffCompression(Buffer.from('etc/passwd\0\0')), 'none');
  assert.equal(s(), 'none');
  assert.equal(s(0x1f), 'none');
});

test('plain bytes pass through unchanged, whatever their length', T, async () => {
  for (const len of [0, 1, 3, 9, 10, 11, 100_000]) {
    const data = Buffer.alloc(len, 0x61);
    for (const size of [1, 7, 65536]) assert.deepEqual(await decompressAll(data, {}, size), data);
  }
  let format = '';
  await decompressAll(Buffer.from('hello'), { onFormat: (f) => (format = f) });
  assert.equal(format, 'none');
});

describe('gzip', () => {
  for (const engine of availableGzipEngines()) {
    describe(engine.name, () => {
      test('single and multi-member, in any chunking', T, async () => {
        assert.deepEqual(await decompressAll(gzip(DATA), { gzip: engine }), DATA);
        const multi = Buffer.concat([gzip(DATA.subarray(0, 1000)), gzip(Buffer.alloc(0)), gzip(DATA.subarray(1000))]);
        for (const size of [1, 2, 3, 5, 11, 512, 4096]) assert.deepEqual(await decompressAll(multi, { gzip: engine }, size), DATA);
      });

      test('truncated and corrupt streams are DECOMPRESS_FAILED naming the stream', T, async () => {
        const gz = gzip(DATA);
        const what = 'layer 2/3 (sha256:abcd)';
        for (const bad of [gz.subarray(0, gz.length - 4), gz.subarray(0, 2)]) {
          const e = await smrErrorOf(() => decompressAll(bad, { what, gzip: engine }));
          assert.equal(e.code, 'DECOMPRESS_FAILED');
          assert.match(e.message, /^Cannot decompress layer 2\/3 \(sha256:abcd\) \(gzip\): /);
        }
        const flipped = Buffer.from(gz);
        flipped[gz.length - 6]! ^= 0xff; // in the CRC/size trailer
        await expectTarError(() => decompressAll(flipped, { gzip: engine }), 'DECOMPRESS_FAILED', /gzip/);
      });

      test('trailing garbage: zlib refuses it, igzip ignores it as gzip(1) does', T, async () => {
        const bad = Buffer.concat([gzip(DATA), Buffer.from('garbage!')]);
        if (engine.name === 'zlib') {
          await expectTarError(() => decompressAll(bad, { gzip: engine }), 'DECOMPRESS_FAILED', /gzip/);
        } else {
          // Harmless: what the tar reader gets is still checked against the diff_id.
          assert.deepEqual(await decompressAll(bad, { gzip: engine }), DATA);
        }
      });
    });
  }
});

describe('zstd', { skip: noZstd }, () => {
  // Several frames in one piece: node:zlib alone would stop after the first
  // (nodejs/node#64741); src/tar/zstd-frames.ts cuts pieces at frame ends.
  test('one frame, several frames, skippable frames anywhere, any chunking', T, async () => {
    const one = zstd(DATA);
    assert.deepEqual(await decompressAll(one), DATA);
    const many = Buffer.concat([
      skippableFrame(Buffer.from('seekable index, say'), 0xe),
      zstd(DATA.subarray(0, 3000), ['--no-check']),
      skippableFrame(Buffer.alloc(0)),
      zstd(Buffer.alloc(0)), // an empty frame: one empty block
      zstd(DATA.subarray(3000), ['-19']),
      skippableFrame(Buffer.from('trailer')),
    ]);
    for (const size of [1, 3, 17, 4096, 1 << 20]) assert.deepEqual(await decompressAll(many, {}, size), DATA, `pieces of ${size}`);
  });

  test('truncated and corrupt frames are DECOMPRESS_FAILED', T, async () => {
    const z = zstd(DATA);
    for (const cut of [5, 20, z.length - 1]) {
      const e = await smrErrorOf(() => decompressAll(z.subarray(0, cut), { what: 'blob X' }));
      assert.equal(e.code, 'DECOMPRESS_FAILED', e.message);
      assert.match(e.message, /^Cannot decompress blob X \(zstd\): /);
    }
    // Damage inside the data: libzstd checks the frame's content checksum.
    const bad = Buffer.from(z);
    bad[Math.floor(z.length / 2)]! ^= 0x55;
    await expectTarError(() => decompressAll(bad), 'DECOMPRESS_FAILED');
    await expectTarError(() => decompressAll(Buffer.concat([z, Buffer.from('not a frame')])), 'DECOMPRESS_FAILED');
  });
});

test('xz and bzip2 are refused as unsupported', T, async () => {
  await expectTarError(() => decompressAll(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0, 1, 2, 3, 4]), { what: 'L' }), 'DECOMPRESS_UNSUPPORTED', /L: it is xz-compressed/);
  await expectTarError(() => decompressAll(Buffer.from('BZh91AY&SY....')), 'DECOMPRESS_UNSUPPORTED', /bzip2/);
});

test('errors of the input itself come out unchanged', T, async () => {
  const boom = new Error('ECONNRESET');
  for (const head of [gzip(DATA), haveZstdCli ? zstd(DATA) : gzip(DATA), Buffer.from('plain tar bytes here')]) {
    async function* src(): AsyncGenerator<Buffer> {
      yield head.subarray(0, 12);
      throw boom;
    }
    await assert.rejects(
      (async () => {
        for await (const _ of decompressChunks(src())) void _;
      })(),
      (e) => e === boom,
    );
  }
});

test('destroying the output early releases the input', T, async () => {
  const big = gzip(Buffer.alloc(20 << 20, 7));
  const input = Readable.from(
    (function* () {
      for (let i = 0; i < big.length; i += 4096) yield big.subarray(i, i + 4096);
    })(),
  );
  const out = decompressStream(input);
  for await (const _ of out) break;
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(input.destroyed, 'the input was destroyed');
});

test('a corrupt layer surfaces through TarReader as DECOMPRESS_FAILED', T, async () => {
  const gz = gzip(Buffer.concat([Buffer.alloc(1024, 0)]));
  const reader = new TarReader(decompressStream(Readable.from([gz.subarray(0, gz.length - 3)])));
  await expectTarError(() => reader.next(), 'DECOMPRESS_FAILED');
});

const skipFixtures = skipWithoutFixtures() || noZstd;
test('a recompressed fixture layer decompresses to its diff_id', { ...T, skip: skipFixtures }, async () => {
  const image = fixturesJson().images.find((i) => i.name === 'debian-python')!;
  const layer = image.layers![1]!;
  const tar = gunzipSync(readFileSync(join(fixtureLayout('debian-python'), 'blobs', ...layer.digest.split(':'))));
  const z = zstd(tar, ['-3']);
  const hz = createHash('sha256');
  let n = 0;
  for await (const c of decompressChunks(Readable.from([z]))) {
    hz.update(c);
    n += c.length;
  }
  assert.equal(`sha256:${hz.digest('hex')}`, layer.diff_id);
  assert.equal(n, tar.length);
  // And through the Readable wrapper, from a file stream, as the builder uses it.
  const h = createHash('sha256');
  const gzPath = join(fixtureLayout('debian-python'), 'blobs', ...layer.digest.split(':'));
  for await (const c of decompressStream(createReadStream(gzPath))) h.update(c as Buffer);
  assert.equal(`sha256:${h.digest('hex')}`, layer.diff_id);
});
