// Seeded fuzzing of decodeChunk: damaged stored chunks (flipped bits,
// truncation, garbage, a wrong codec byte) end in CHUNK_CORRUPT, never another
// exception, a hang or wrong data; bombs (tiny streams claiming or producing
// huge outputs) cost no more than the chunk's length.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { decodeChunk, encodeChunk } from '../../src/chunk/codec.js';
import { CODEC_GZIP, CODEC_RAW, CODEC_ZSTD, LEVEL_RANGE } from '../../src/chunk/compress.js';
import { zstdCompress, zstdDecompressChunk } from '../../src/chunk/compress-zstd.js';
import type { Compression, Encryption } from '../../src/chunk/types.js';
import { isSmrError } from '../../src/util/errors.js';

const SEED = 9182;
const LEN = 32 * 1024;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const compressions: Compression[] = ['none', 'zstd', 'gzip'];

/** A chunk of log-like lines, a noisy stretch and a zero tail. */
function sample(n: number): Buffer {
  const lines: string[] = [];
  for (let i = 0; lines.join('\n').length < n / 2; i++) lines.push(`${i.toString(16).padStart(6, '0')} GET /img/${i % 37}.png 200 ${(i * 7919) % 10007}`);
  const b = Buffer.alloc(n);
  b.write(lines.join('\n'), 'latin1');
  for (let i = n / 2; i < (3 * n) / 4; i++) b[i] = (i * 2654435761) >>> 24;
  return b;
}

interface Case {
  name: string;
  plain: Buffer;
  stored: Buffer;
  digest: string;
  key?: Buffer;
  salt?: Buffer;
}

// Each codec at its default level, and zstd and gzip at the top of the range
// --level allows (optimal parsing at zstd 19 writes other block shapes).
const settings: { compression: Compression; level?: number }[] = [
  ...compressions.map((compression) => ({ compression })),
  { compression: 'zstd', level: LEVEL_RANGE.zstd.max },
  { compression: 'gzip', level: LEVEL_RANGE.gzip.max },
];
const cases: Case[] = [];
for (const { compression, level } of settings) {
  for (const encryption of ['none', 'convergent-aes-256-ctr'] as Encryption[]) {
    const plain = sample(LEN);
    const salt = encryption === 'none' ? undefined : Buffer.from('fuzz');
    const e = encodeChunk(plain, { compression, level, encryption, salt });
    cases.push({ name: `${compression}${level ?? ''}/${encryption}`, plain, ...e, salt });
  }
}

type Mutation = { kind: 'flip'; at: number; bit: number } | { kind: 'truncate'; at: number } | { kind: 'append'; bytes: Uint8Array } | { kind: 'splice'; at: number; bytes: Uint8Array } | { kind: 'codec'; value: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
  fc.record({ kind: fc.constant('splice' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 300 }) }),
  fc.record({ kind: fc.constant('codec' as const), value: fc.integer({ min: 0, max: 255 }) }),
);

function mutate(b: Buffer, m: Mutation): Buffer {
  const out = Buffer.from(b);
  switch (m.kind) {
    case 'flip':
      out[m.at % out.length]! ^= 1 << m.bit;
      return out;
    case 'truncate':
      return out.subarray(0, m.at % out.length);
    case 'append':
      return Buffer.concat([out, m.bytes]);
    case 'splice':
      Buffer.from(m.bytes).copy(out, m.at % out.length);
      return out;
    case 'codec':
      out[0] = m.value;
      return out;
  }
}

/** decodeChunk either gives `length` bytes or throws CHUNK_CORRUPT; nothing else. */
function outcome(f: () => Buffer, length: number): Buffer | 'corrupt' {
  try {
    const out = f();
    assert.equal(out.length, length);
    return out;
  } catch (e) {
    if (isSmrError(e) && e.code === 'CHUNK_CORRUPT') return 'corrupt';
    throw e;
  }
}

test('damaged chunks: the digest catches them all', () => {
  fc.assert(
    fc.property(fc.constantFrom(...cases), mutation, (c, m) => {
      const bad = mutate(c.stored, m);
      fc.pre(!bad.equals(c.stored));
      assert.equal(outcome(() => decodeChunk(bad, c, LEN), LEN), 'corrupt');
    }),
    { seed: SEED, numRuns: 300 },
  );
});

test('damaged chunks under a forged digest: CHUNK_CORRUPT or bytes, and never wrong bytes when encrypted', () => {
  fc.assert(
    fc.property(fc.constantFrom(...cases), mutation, (c, m) => {
      const bad = mutate(c.stored, m);
      fc.pre(!bad.equals(c.stored));
      const r = outcome(() => decodeChunk(bad, { digest: sha256(bad), key: c.key, salt: c.salt }, LEN), LEN);
      // The key is a function of the plaintext: a forged chunk cannot match it.
      if (c.key !== undefined && r !== 'corrupt') assert.deepEqual(r, c.plain);
    }),
    { seed: SEED, numRuns: 1500 },
  );
});

test('garbage bodies under every codec byte', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ minLength: 0, maxLength: 2000 }), fc.boolean(), (codec, body, keyed) => {
      const stored = Buffer.concat([Buffer.from([codec]), body]);
      const key = keyed ? createHash('sha256').update(body).digest() : undefined;
      outcome(() => decodeChunk(stored, { digest: sha256(stored), key }, LEN), LEN);
    }),
    { seed: SEED, numRuns: 1000 },
  );
});

test('zstd frames with damaged blocks: the decoder fails cleanly or stays within the chunk', () => {
  const frames = [3, LEVEL_RANGE.zstd.max].map((level) => zstdCompress(sample(LEN), level));
  fc.assert(
    fc.property(fc.constantFrom(...frames), mutation, (frame, m) => {
      let out: Buffer | undefined;
      try {
        out = zstdDecompressChunk(mutate(frame, m), LEN);
      } catch (e) {
        assert.ok(e instanceof Error);
      }
      if (out) assert.equal(out.length, LEN);
    }),
    { seed: SEED, numRuns: 800 },
  );
});

/** A zstd frame header declaring `size` bytes, then the given blocks. */
function zstdFrame(size: number, blocks: Buffer[]): Buffer {
  const head = Buffer.alloc(9);
  head.writeUInt32LE(0xfd2fb528, 0);
  head[4] = (2 << 6) | (1 << 5); // 4-byte content size, single segment
  head.writeUInt32LE(size, 5);
  return Buffer.concat([head, ...blocks]);
}

/** An RLE block: `size` copies of one byte, from 4 bytes of input. */
function rleBlock(size: number, last: boolean): Buffer {
  const h = (size << 3) | (1 << 1) | (last ? 1 : 0);
  return Buffer.from([h & 0xff, (h >> 8) & 0xff, (h >> 16) & 0xff, 0x41]);
}

/** Peak resident memory of this process so far, in bytes (getrusage's ru_maxrss). */
function peakRss(): number {
  return process.resourceUsage().maxRSS * 1024;
}

test('bombs: a tiny stream claiming or making a huge output is refused without making it', () => {
  const GiB = 2 ** 30;
  const blocks = GiB / (128 * 1024);
  const runs = Array.from({ length: blocks }, (_, i) => rleBlock(128 * 1024, i === blocks - 1));
  // A gzip member of 16 MiB of zeros is 16 KiB; 64 of them make 1 GiB.
  const member = gzipSync(Buffer.alloc(16 << 20), { level: 9 });
  const bombs: [string, Buffer][] = [
    // Declares 1 GiB and holds it: refused from the header.
    ['zstd declaring and making 1 GiB', Buffer.concat([Buffer.from([CODEC_ZSTD]), zstdFrame(GiB, runs)])],
    // Declares a little, then makes 1 GiB of run-length blocks.
    ['zstd declaring 100 bytes, making 1 GiB', Buffer.concat([Buffer.from([CODEC_ZSTD]), zstdFrame(100, runs)])],
    ['gzip members making 1 GiB', Buffer.concat([Buffer.from([CODEC_GZIP]), ...Array.from({ length: 64 }, () => member)])],
    ['zstd of 64 MiB', Buffer.concat([Buffer.from([CODEC_ZSTD]), zstdCompress(Buffer.alloc(64 << 20, 7), 19)])],
    ['gzip of 64 MiB', Buffer.concat([Buffer.from([CODEC_GZIP]), gzipSync(Buffer.alloc(64 << 20, 7), { level: 9 })])],
    ['raw longer than the chunk', Buffer.concat([Buffer.from([CODEC_RAW]), Buffer.alloc(LEN + 1, 1)])],
  ];
  // Decoding any of the 1 GiB bombs whole would raise the peak by 1 GiB:
  // a bounded decoder stops at the chunk's length, so the peak barely moves.
  const before = peakRss();
  for (const [name, stored] of bombs) {
    assert.ok(stored.length < 2 << 20, `${name} is ${stored.length} bytes`);
    assert.equal(outcome(() => decodeChunk(stored, { digest: sha256(stored) }, LEN), LEN), 'corrupt', name);
    const grown = peakRss() - before;
    assert.ok(grown < 128 << 20, `decoding ${name} raised the peak memory by ${Math.round(grown / 2 ** 20)} MiB`);
  }
});
